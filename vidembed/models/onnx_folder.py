"""What the two-tower ONNX model folders share: image-text (``openclip``, Immich's layout) and audio-text
(``clap``, vidembed's layout).

Both are a folder with ``config.json`` and two ``<tower>/model.onnx`` files (an image or audio tower, then
a text tower) that load lazily, once, under a lock as Immich's ``InferenceModel`` does; both are named by
a local path or a Hugging Face hub id downloaded once to ``models_dir/hub/org__name``. The layouts differ
in their files and in the words of their errors, so those are the modules' own and are passed in here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from vidembed.errors import ModelUnavailableError
from vidembed.models.providers import choose_providers, text_providers
from vidembed.models.runtime import session

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


class OnnxModelFolder(ABC):
    """One model folder of two ONNX towers; the subclass's ``_load`` opens them on first use, once."""

    kind: ClassVar[str]  # "image-text": in the log and the messages
    towers: ClassVar[tuple[str, str]]  # the folders of the two model.onnx files, the text tower second
    required_files: ClassVar[tuple[str, ...]]
    _log: ClassVar[logging.Logger]  # the subclass's module logger

    def __init__(self, folder: Path, threads: int = 1, providers: Sequence[str] | None = None) -> None:
        self.folder = Path(folder)
        self.name = self.folder.name
        self.threads = threads
        self._providers = list(providers) if providers is not None else None
        self.loaded = False
        self._load_lock = threading.Lock()
        self._identity_lock = threading.Lock()
        self._identity: str | None = None

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @abstractmethod
    def _load(self) -> None:
        """Open the towers and check them against config.json (called once, under the load lock)."""

    @abstractmethod
    def _incomplete_message(self, missing: Sequence[str]) -> str:
        """The error for this folder lacking ``missing`` (paths relative to it)."""

    @abstractmethod
    def _reload_hint(self) -> str:
        """What to do about an ONNX file onnxruntime cannot load ("copy ... again")."""

    @property
    def identity(self) -> str:
        """``name <tower>:<sha256[:12]> <tower>:<sha256[:12]>`` of the two ONNX files (hashed once)."""
        with self._identity_lock:
            if self._identity is None:
                parts = [self.name]
                for tower in self.towers:
                    parts.append(f"{tower}:{self._digest(tower)[:12]}")
                self._identity = " ".join(parts)
            return self._identity

    def _digest(self, tower: str) -> str:
        relative = f"{tower}/model.onnx"
        try:
            return onnx_digest(self.folder / relative)
        except FileNotFoundError as exc:
            raise ModelUnavailableError(self._incomplete_message([relative])) from exc

    # --- loading --------------------------------------------------------------------------------

    def load(self) -> None:
        with self._load_lock:  # two requests may arrive for a model neither has loaded
            if self.loaded:
                return
            self._log.info("loading %s model %s from %s", self.kind, self.name, self.folder)
            self._load()
            self.loaded = True

    def _check_complete(self) -> None:
        missing = missing_files(self.folder, self.required_files)
        if missing:
            raise ModelUnavailableError(self._incomplete_message(missing))

    def _open_towers(self) -> tuple[ort.InferenceSession, ort.InferenceSession]:
        """The two towers' sessions: the first on the providers given (or chosen), the text one on
        ``text_providers`` of them."""
        providers = self._providers if self._providers is not None else choose_providers()
        first, text = self.towers
        return self._session(first, providers), self._session(text, text_providers(providers))

    def _session(self, tower: str, providers: Sequence[str]) -> ort.InferenceSession:
        path = self.folder / tower / "model.onnx"
        try:
            return session(path, self.threads, providers)
        except Exception as exc:  # onnxruntime raises its own classes for bad files
            raise ModelUnavailableError(
                f"onnxruntime could not load {path} ({exc}); {self._reload_hint()}"
            ) from exc

    # --- running --------------------------------------------------------------------------------

    def _run(self, graph: ort.InferenceSession, output: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        rows = next(iter(feeds.values())).shape[0]
        fixed = fixed_batch(graph.get_inputs()[0].shape)
        if fixed is not None and rows < fixed:  # a graph exported for a fixed batch: pad the last one
            feeds = {
                k: np.concatenate([v, np.zeros((fixed - rows, *v.shape[1:]), v.dtype)])
                for k, v in feeds.items()
            }
        result = np.asarray(graph.run([output], feeds)[0], dtype=np.float32)
        if result.ndim != 2 or result.shape[0] < rows or result.shape[1] != self.dimension:
            raise ModelUnavailableError(
                f"{self.name}: output {output!r} has shape {result.shape} for {rows} inputs; "
                f"config.json says embed_dim {self.dimension}"
            )
        return result[:rows]

    def _json(self, relative: str) -> dict[str, Any]:
        path = self.folder / relative
        try:
            with path.open(encoding="utf-8") as file:
                data = json.load(file)
        except FileNotFoundError as exc:
            raise ModelUnavailableError(self._incomplete_message([relative])) from exc
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"{path} could not be read as JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ModelUnavailableError(f"{path} is not a JSON object")
        return data


def fixed_batch(shape: Sequence[Any]) -> int | None:
    """The batch size a graph input was exported for, or None if the batch dimension is free."""
    first = shape[0] if shape else None
    return first if isinstance(first, int) and first > 0 else None


def output_name(graph: ort.InferenceSession) -> str:
    names = [o.name for o in graph.get_outputs()]
    return "embedding" if "embedding" in names else names[0]


def read_tokenizer(path: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelUnavailableError(f"{path} is not a tokenizers file ({exc})") from exc


def onnx_digest(path: Path) -> str:
    """sha256 of an ONNX file, followed by its external-data files (``model.onnx_data`` ...) if any.
    Raises FileNotFoundError if one is missing."""
    digest = hashlib.sha256()
    extra = sorted(p for p in path.parent.glob(path.name + "?*") if p.is_file())
    for part in (path, *extra):
        with part.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def missing_files(folder: Path, required_files: Sequence[str]) -> list[str]:
    """The ``required_files`` that ``folder`` lacks, relative to it."""
    return [name for name in required_files if not (folder / name).is_file()]


def incomplete_message(kind: str, folder: Path, missing: Sequence[str], hint: str) -> str:
    """``hint`` says what to do, in lower case ("copy the model folder ... to ...")."""
    return (
        f"The {kind} model folder {Path(folder).absolute()} is incomplete: missing {', '.join(missing)}. "
        f"{hint[:1].upper()}{hint[1:]}."
    )


def fetch_from_hub(
    repo_id: str,
    folder: Path,
    allow_patterns: list[str],
    ignore_patterns: list[str] | None = None,
    *,
    hint: str,
    token_for: str,
    endpoint: str | None = None,
    logger: logging.Logger = log,
) -> None:
    """The files of hub repository ``repo_id`` that match the patterns, downloaded to ``folder`` from
    ``endpoint`` (``StackSettings.hf_endpoint``: ``HF_ENDPOINT``, read by ``vidembed.config``) or, when
    it is None, huggingface_hub's default. Errors are ModelUnavailableErrors that end with ``hint`` (what
    to do instead) and say HF_TOKEN is needed for ``token_for`` ("a private repository")."""
    endpoint = (endpoint or "").rstrip("/") or None
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:
        raise ModelUnavailableError(
            f"huggingface_hub is not installed, so {repo_id} cannot be downloaded: pip install "
            f"huggingface_hub, or {hint}."
        ) from exc
    where = endpoint or constants.ENDPOINT
    logger.info("downloading %s from %s to %s: this may take a while", repo_id, where, folder)
    try:
        snapshot_download(
            repo_id=repo_id,
            local_dir=folder,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            endpoint=endpoint,
        )
    except Exception as exc:  # any hub, HTTP or network error: the message says what to do
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ModelUnavailableError(
            f"Could not download {repo_id} from {where} ({type(exc).__name__}: {reason}). Set HF_ENDPOINT / "
            f"check the network (and HF_TOKEN for {token_for}), or {hint}."
        ) from exc


def resolve_model_folder(
    spec: str,
    models_dir: Path,
    required_files: Sequence[str],
    *,
    fetch: Callable[[str, Path], None],
    lock: threading.Lock,
    not_a_folder: Callable[[Path], str],
    not_a_hub_id: str,
    incomplete: Callable[[Path, list[str]], str],
    downloads_off: Callable[[Path, list[str]], str],
    incomplete_download: Callable[[Path, list[str]], str] | None = None,
    not_in_layout: Callable[[Path], str | None] | None = None,
    allow_download: bool = True,
) -> Path:
    """The complete model folder ``spec`` names: a local folder, or a hub id ``org/name`` that ``fetch``
    downloads (under ``lock``) to ``models_dir/hub/org__name`` unless it is complete there already.

    ``spec`` is a local folder if it exists or starts with ``/``, ``.`` or ``~``. The callables give the
    messages of the ModelUnavailableErrors: ``not_a_folder`` (spec is a path to no folder),
    ``incomplete`` (a folder lacks files), ``downloads_off`` (the hub folder is not complete and
    ``allow_download`` is false), ``incomplete_download`` (it still lacks files after the download;
    ``incomplete`` by default); ``not_in_layout`` gives one for a folder in another layout, else None, and
    is asked before the files are counted.
    """
    local = Path(spec).expanduser()
    if spec.startswith(("/", ".", "~")) or local.exists():
        if not local.is_dir():
            raise ModelUnavailableError(not_a_folder(local))
        _check(local, required_files, not_in_layout, incomplete)
        return local
    if not HUB_ID.fullmatch(spec):
        raise ModelUnavailableError(not_a_hub_id)
    org, name = spec.split("/")
    folder = Path(models_dir) / "hub" / f"{org}__{name}"
    with lock:
        missing = missing_files(folder, required_files)
        if not missing and (not_in_layout is None or not_in_layout(folder) is None):
            return folder
        if not allow_download:
            raise ModelUnavailableError(downloads_off(folder, missing))
        fetch(spec, folder)
        _check(folder, required_files, not_in_layout, incomplete_download or incomplete)
    return folder


def _check(
    folder: Path,
    required_files: Sequence[str],
    not_in_layout: Callable[[Path], str | None] | None,
    incomplete: Callable[[Path, list[str]], str],
) -> None:
    problem = not_in_layout(folder) if not_in_layout is not None else None
    if problem is not None:
        raise ModelUnavailableError(problem)
    missing = missing_files(folder, required_files)
    if missing:
        raise ModelUnavailableError(incomplete(folder, missing))
