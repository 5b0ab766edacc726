"""A tiny, randomly initialised CLAP (transformers `ClapModel`) exported to vidembed's CLAP ONNX layout by
the export command's code (`vidembed.devtools.export_clap`), for tests.

No model hub is reachable here, so the tests make their own: a `ClapModel(ClapConfig(...))` with the
HTSAT audio tower cut to one block per stage (the configuration /work/shared/MODELS.md found to export)
and a 2-layer, 32-wide RoBERTa text tower with a byte-level BPE tokenizer trained on a few sound
descriptions (seeded and deterministic, so every run writes the same model). It is saved as a
transformers folder (`save_pretrained` of the model, the tokenizer and a `ClapFeatureExtractor` with
LAION's unfused settings) and exported from that folder, as a user exports `laion/clap-htsat-unfused`.

`TinyClap` answers with the REFERENCE implementation (transformers' feature extractor, tokenizer and
`get_audio_features` / `get_text_features`). torch and transformers are test/export-time dependencies
(the `export` extra); vidembed's run-time modules never import them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EMBED_DIM = 32
TEXT_WIDTH = 32
SAMPLE_RATE = 48_000
# A few sound descriptions and AudioSet-like names for the tiny BPE vocabulary.
CORPUS = [
    "This is a sound of dog.",
    "This is a sound of a car engine idling.",
    "the sound of rain on a tin roof",
    "a dog barks twice while birds sing",
    "music, a piano and a violin playing a slow melody",
    "speech, a man speaking, a woman speaking, conversation",
    "silence, white noise, pink noise, static",
    "sine wave, beep, bleep, tone, whistle, siren",
    "applause, crowd, cheering, laughter",
    "water, stream, waterfall, ocean, waves, splash",
    "vehicle, motorcycle, train horn, aircraft, helicopter",
    "tools, hammer, power drill, sawing, chainsaw",
    "Cat meowing, purring; a rooster crows at dawn!",
]


@dataclass
class TinyClap:
    """A tiny CLAP exported to `folder` (and its transformers checkpoint in `checkpoint`)."""

    folder: Path
    checkpoint: Path
    fused: bool
    model: Any = field(repr=False)  # transformers ClapModel (eval mode)
    extractor: Any = field(repr=False)  # transformers ClapFeatureExtractor
    tokenizer: Any = field(repr=False)

    @property
    def embed_dim(self) -> int:
        return EMBED_DIM

    @property
    def truncation(self) -> str:
        """The extractor's mode whose filter bank the export follows (fusion models: "fusion")."""
        return "fusion" if self.fused else "rand_trunc"

    def reference_features(self, waveform: np.ndarray) -> np.ndarray:
        """`ClapFeatureExtractor`'s input_features (channel 0) for one 48 kHz waveform: float32 [1, T, mel]."""
        out = self.extractor(
            np.asarray(waveform, np.float32),
            sampling_rate=SAMPLE_RATE,
            truncation=self.truncation,
            padding="repeatpad",
            return_tensors="np",
        )
        return np.asarray(out["input_features"][0][:1], dtype=np.float32)

    def reference_audio_embeddings(self, features: np.ndarray) -> np.ndarray:
        """`get_audio_features` on [N, 1, T, mel] features (is_longer false), L2-normalised: [N, dim]."""
        import torch

        inputs = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        kwargs: dict[str, Any] = {}
        if self.fused:
            inputs = inputs.expand(-1, 4, -1, -1)
            kwargs["is_longer"] = torch.zeros(len(inputs), 1, dtype=torch.bool)
        with torch.no_grad():
            output = self.model.get_audio_features(input_features=inputs, **kwargs)
        return _normalised(_features(output).numpy())

    def reference_audio_embedding(self, waveform: np.ndarray) -> np.ndarray:
        """Reference extractor + `get_audio_features` for one 48 kHz waveform of at most 10 s: [dim]."""
        return self.reference_audio_embeddings(self.reference_features(waveform)[None])[0]

    def reference_text_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self.tokenizer(texts, padding=True, return_tensors="np")
        return np.asarray(encoded["input_ids"]), np.asarray(encoded["attention_mask"])

    def reference_text_embeddings(self, texts: list[str]) -> np.ndarray:
        """Reference tokenizer (padded to the longest) + `get_text_features`, L2-normalised: [N, dim]."""
        import torch

        ids, mask = self.reference_text_ids(texts)
        with torch.no_grad():
            output = self.model.get_text_features(
                input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long()
            )
        return _normalised(_features(output).numpy())


def make_tiny_clap(root: Path, fused: bool = False, name: str | None = None) -> TinyClap:
    """Saves a random ClapModel as a transformers checkpoint under `root` and exports it with
    `vidembed.devtools.export_clap.export` to `root / name`."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, PreTrainedTokenizerFast

    from vidembed.devtools.export_clap import export

    root = Path(root)
    name = name or ("clap-tiny-fused" if fused else "clap-tiny")
    backend = bpe_tokenizer()
    config = ClapConfig(
        text_config={
            "vocab_size": backend.get_vocab_size(),
            "hidden_size": TEXT_WIDTH,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 2 * TEXT_WIDTH,
            "max_position_embeddings": 80,  # 78 tokens after RoBERTa's padding offset
        },
        audio_config={
            "depths": [1, 1, 1, 1],
            "num_attention_heads": [1, 1, 1, 1],
            "hidden_size": 128,
            "patch_embeds_hidden_size": 16,
            "window_size": 8,
            "spec_size": 256,
            "num_mel_bins": 64,
            "enable_fusion": fused,
            "fusion_type": "aff_2d" if fused else None,
        },
        projection_dim=EMBED_DIM,
    )
    torch.manual_seed(0)
    model = ClapModel(config).eval()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )
    # LAION's settings: 48 kHz, 10 s, n_fft 1024, hop 480, 64 mels 50-14000 Hz, repeatpad; the
    # unfused checkpoints use rand_trunc (librosa's slaney filters), the fused ones fusion (htk).
    extractor = ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=SAMPLE_RATE,
        hop_length=480,
        max_length_s=10,
        fft_window_size=1024,
        frequency_min=50,
        frequency_max=14_000,
        truncation="fusion" if fused else "rand_trunc",
        padding="repeatpad",
    )
    checkpoint = root / f"{name}-transformers"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    extractor.save_pretrained(checkpoint)
    folder = root / name
    export(str(checkpoint), folder)
    return TinyClap(folder, checkpoint, fused, model, extractor, tokenizer)


def bpe_tokenizer() -> Any:
    """A RoBERTa-style byte-level BPE `tokenizers.Tokenizer` trained on CORPUS: `<s>` 0, `<pad>` 1,
    `</s>` 2, `<unk>` 3, `<mask>` 4, then the 256 byte symbols and the merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tokenizer


def _features(output: Any) -> Any:
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)
