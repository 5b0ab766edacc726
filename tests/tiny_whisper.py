"""A tiny, randomly initialised Whisper in CTranslate2's layout (what faster-whisper loads), for tests.

No model hub is reachable here, so a test that needs a Whisper folder other than the built-in base
makes one: a transformers `WhisperForConditionalGeneration` with 64-wide layers (2 encoder, 2
decoder; seeded, so every run writes the same weights), with the REAL vocabulary of the built-in
Whisper base (its tokenizer.json, language ids and suppressed tokens), converted by ctranslate2's
`TransformersConverter` as `ct2-transformers-converter` does::

    config.json                 alignment heads, language ids, suppressed tokens (CTranslate2's)
    model.bin                   the weights (int8)
    vocabulary.json             51865 tokens: the tokenizer's, then the 1501 timestamp tokens
    tokenizer.json              the built-in Whisper base tokenizer (faster-whisper reads it)
    preprocessor_config.json    80 mel bins, 16 kHz, 30 s chunks (faster-whisper's feature extractor)

It transcribes garbage (random weights), but through every step a real model takes: features,
encoder, beam search with the real special tokens, word timestamps from the alignment heads.
torch and transformers are test/export-time dependencies (the `export` extra); vidembed never
imports them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

WIDTH = 64
LAYERS = 2
HEADS = 2
MEL_BINS = 80
VOCAB_SIZE = 51865  # multilingual Whisper: 50364 text and special tokens, then 1501 timestamps
SOURCE_POSITIONS = 1500  # 30 s of 10 ms frames after the encoder's stride 2: faster-whisper pads to 30 s
TARGET_POSITIONS = 448  # faster-whisper's max_length
FILES = ("config.json", "model.bin", "vocabulary.json", "tokenizer.json", "preprocessor_config.json")


def make_tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """Writes the tiny CTranslate2 Whisper to ``folder`` (created; replaced if present); returns it."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from tokenizers import Tokenizer
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    from vidembed.models import weights as assets

    base = assets.whisper_dir()
    base_config = json.loads((base / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    eot, sot = tokenizer.token_to_id("<|endoftext|>"), tokenizer.token_to_id("<|startoftranscript|>")
    assert eot is not None and sot is not None

    config = WhisperConfig(
        vocab_size=VOCAB_SIZE,
        num_mel_bins=MEL_BINS,
        d_model=WIDTH,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=2 * WIDTH,
        decoder_ffn_dim=2 * WIDTH,
        max_source_positions=SOURCE_POSITIONS,
        max_target_positions=TARGET_POSITIONS,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    # What the converter reads from the generation config; the base model's values, except the
    # alignment heads (the base model's name layers the tiny one lacks: use every head of the last layer).
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=base_config["suppress_ids"],
        begin_suppress_tokens=base_config["suppress_ids_begin"],
        alignment_heads=[[LAYERS - 1, h] for h in range(HEADS)],
        lang_to_id={tokenizer.id_to_token(i): i for i in base_config["lang_ids"]},
    )

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "transformers"
        model.save_pretrained(source)
        PreTrainedTokenizerFast(tokenizer_object=tokenizer).save_pretrained(source)
        shutil.copyfile(base / "tokenizer.json", source / "tokenizer.json")  # byte for byte the real file
        WhisperFeatureExtractor(feature_size=MEL_BINS).save_pretrained(source)
        TransformersConverter(str(source), copy_files=["tokenizer.json", "preprocessor_config.json"]).convert(
            str(folder), quantization="int8", force=True
        )
    return folder
