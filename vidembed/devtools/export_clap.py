"""Export a transformers CLAP model to vidembed's ONNX layout (see ``vidembed.models.clap``).

    python -m vidembed.devtools.export_clap laion/clap-htsat-unfused /models/clap-htsat-unfused

MODEL is a Hugging Face hub id or a local folder that ``ClapModel.from_pretrained`` reads (with its
tokenizer and ``preprocessor_config.json``). The export needs torch and transformers, the ``export``
extra (``pip install -e ".[export]"``); the folder it writes is read with onnxruntime alone. After
writing, both graphs are run with onnxruntime against torch on the same input, and the export fails
if they differ (cosine < 0.9999).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from vidembed.models.clap import FORMAT, FORMAT_VERSION

OPSET = 17
# LAION CLAP trained its RoBERTa text tower on 77 tokens (padding="max_length", max_length=77).
CONTEXT_LENGTH = 77
PARITY = 0.9999
EXTRA_HINT = 'pip install -e ".[export]"'


class ExportError(Exception):
    """A model that cannot be exported, with the reason."""


def _require_export_extra() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ExportError(
            f"The CLAP export needs torch and transformers ({exc.name} is missing): install the export extra "
            f"with {EXTRA_HINT} (torch CPU and transformers, pinned in constraints.txt)."
        ) from exc
    return torch, transformers


def export(model_id: str, out: Path, *, opset: int = OPSET) -> dict[str, Any]:
    """Loads ``model_id`` (hub id or folder) with transformers and writes the layout to ``out``;
    returns the config.json written."""
    torch, transformers = _require_export_extra()
    try:
        model = transformers.ClapModel.from_pretrained(model_id).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_id)
        extractor = transformers.ClapFeatureExtractor.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"{model_id} could not be loaded as a transformers ClapModel with its tokenizer and feature "
            f"extractor: {exc}"
        ) from exc
    return export_model(model, tokenizer, extractor, Path(out), source=model_id, opset=opset)


def export_model(
    model: Any, tokenizer: Any, extractor: Any, out: Path, *, source: str, opset: int = OPSET
) -> dict[str, Any]:
    """Writes config.json, audio/model.onnx, text/model.onnx and text/ tokenizer files to ``out`` from a
    loaded ``ClapModel``, its tokenizer and its ``ClapFeatureExtractor``; checks both graphs."""
    torch, _ = _require_export_extra()
    out = Path(out)
    config = layout_config(model, tokenizer, extractor, source)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "text").mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out / "text")
    if not (out / "text" / "tokenizer.json").is_file():
        raise ExportError(
            f"the tokenizer of {source} wrote no tokenizer.json (a `tokenizers` file is required)"
        )

    audio, text = _towers(torch, model)
    features = torch.randn(2, 1, config["audio"]["frames"], config["audio"]["n_mels"]) * 20.0 - 40.0
    ids, mask = _example_text(torch, tokenizer, config["text"]["pad_id"])
    model.requires_grad_(False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            audio,
            (features,),
            (out / "audio" / "model.onnx").as_posix(),
            input_names=["input_features"],
            output_names=["embedding"],
            dynamic_axes={"input_features": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
        torch.onnx.export(
            text,
            (ids, mask),
            (out / "text" / "model.onnx").as_posix(),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "embedding": {0: "batch"},
            },
            opset_version=opset,
            dynamo=False,
        )
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        _check_parity(torch, out, audio, text, features, ids, mask)
    return config


def layout_config(model: Any, tokenizer: Any, extractor: Any, source: str) -> dict[str, Any]:
    """config.json of the layout, from the model's configuration and its feature extractor's."""
    audio_config = model.config.audio_config
    text_config = model.config.text_config
    if extractor.feature_size != audio_config.num_mel_bins:
        raise ExportError(
            f"the feature extractor makes {extractor.feature_size} mel bins, the audio tower takes "
            f"{audio_config.num_mel_bins}"
        )
    if extractor.padding not in ("repeatpad", "repeat", "pad"):
        raise ExportError(f"padding {extractor.padding!r} is not one of repeatpad, repeat, pad")
    # ClapFeatureExtractor's filter bank depends on its truncation mode: torchaudio's (htk, no norm)
    # for "fusion", librosa's (slaney, slaney) otherwise. The reader follows the same bank.
    fusion_bank = extractor.truncation == "fusion"
    pad_token = tokenizer.pad_token
    pad_id = tokenizer.pad_token_id
    if pad_token is None or pad_id is None:
        raise ExportError(f"the tokenizer of {source} has no pad token")
    if text_config.pad_token_id is not None and pad_id != text_config.pad_token_id:
        raise ExportError(
            f"the tokenizer pads with id {pad_id}, the text tower expects {text_config.pad_token_id}"
        )
    # RoBERTa positions start after the padding index: max_position_embeddings - pad_id - 1 tokens fit.
    positions = int(text_config.max_position_embeddings) - int(text_config.pad_token_id or 0) - 1
    model_max = getattr(tokenizer, "model_max_length", CONTEXT_LENGTH) or CONTEXT_LENGTH
    context_length = int(min(CONTEXT_LENGTH, positions, model_max))
    max_length_s = extractor.max_length_s
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": source,
        "embed_dim": int(model.config.projection_dim),
        "logit_scale": float(model.logit_scale_a.exp().item()),
        "audio": {
            "sample_rate": int(extractor.sampling_rate),
            "max_length_s": max_length_s,
            "n_fft": int(extractor.fft_window_size),
            "hop_length": int(extractor.hop_length),
            "n_mels": int(extractor.feature_size),
            "f_min": float(extractor.frequency_min),
            "f_max": float(extractor.frequency_max),
            "mel_scale": "htk" if fusion_bank else "slaney",
            "mel_norm": None if fusion_bank else "slaney",
            "padding": extractor.padding,
            "truncation": "split",
            "frames": int(max_length_s * extractor.sampling_rate) // int(extractor.hop_length) + 1,
            "fusion": False,
            "checkpoint_fusion": bool(audio_config.enable_fusion),
        },
        "text": {"context_length": context_length, "pad_token": str(pad_token), "pad_id": int(pad_id)},
    }


def _towers(torch: Any, model: Any) -> tuple[Any, Any]:
    fusion = bool(model.config.audio_config.enable_fusion)

    class Audio(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule, so that its weights export as initializers

        def forward(self, input_features: Any) -> Any:
            is_longer = None
            if fusion:  # the short-audio path: one mel in all four channels, is_longer false
                input_features = input_features.expand(-1, 4, -1, -1)
                is_longer = torch.zeros(input_features.shape[0], 1, dtype=torch.bool)
            output = self.model.get_audio_features(input_features=input_features, is_longer=is_longer)
            return torch.nn.functional.normalize(_features(torch, output), dim=-1)

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            output = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return torch.nn.functional.normalize(_features(torch, output), dim=-1)

    return Audio().eval(), Text().eval()


def _features(torch: Any, output: Any) -> Any:
    """transformers 5 returns an output object from get_*_features (the embedding is its pooler_output)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _example_text(torch: Any, tokenizer: Any, pad_id: int) -> tuple[Any, Any]:
    encoded = tokenizer(["the sound of rain on a tin roof", "a dog barks"], padding=True, return_tensors="pt")
    ids = encoded["input_ids"].long()
    mask = encoded["attention_mask"].long() if "attention_mask" in encoded else (ids != pad_id).long()
    return ids, mask


def _check_parity(torch: Any, out: Path, audio: Any, text: Any, features: Any, ids: Any, mask: Any) -> None:
    import numpy as np
    import onnxruntime as ort

    audio_reference = audio(features)
    cases = (
        ("audio", audio_reference, {"input_features": features[:1].numpy()}, 1),
        ("audio", audio_reference, {"input_features": features.numpy()}, 2),
        ("text", text(ids, mask), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}, len(ids)),
    )
    for tower, expected, feeds, rows in cases:
        graph = ort.InferenceSession(str(out / tower / "model.onnx"), providers=["CPUExecutionProvider"])
        got = graph.run(["embedding"], feeds)[0]
        reference = expected.numpy()[:rows]
        cosine = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
        if float(cosine.min()) < PARITY:
            raise ExportError(
                f"{tower}/model.onnx differs from torch (cosine {float(cosine.min()):.5f} < {PARITY}, "
                f"batch {rows})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidembed.devtools.export_clap",
        description="Export a transformers CLAP model (LAION CLAP's ClapModel, e.g. "
        "laion/clap-htsat-unfused) to vidembed's ONNX layout (config.json, audio/model.onnx, "
        'text/model.onnx, text/tokenizer.json), for a stacks file\'s audio_text = "OUT_FOLDER". '
        "Needs torch and transformers: the export extra, "
        f"{EXTRA_HINT}.",
    )
    parser.add_argument("model", metavar="MODEL", help="a Hugging Face hub id or a local transformers folder")
    parser.add_argument("out", metavar="OUT_FOLDER", type=Path, help="the folder to write")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    args = parser.parse_args(argv)
    try:
        config = export(args.model, args.out, opset=args.opset)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out} ({config['embed_dim']}-d, {config['audio']['sample_rate']} Hz, "
        f'{config["audio"]["max_length_s"]} s windows); use it with audio_text = "{args.out.absolute()}"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
