"""Tiny randomly initialised models built offline from configs and saved with `save_pretrained`, so tests load
them through exactly the loaders production uses for real checkpoints (as transformers' own tests do)."""

from __future__ import annotations

from pathlib import Path

WORDS = "calm tense joyful wistful soft piano warm strings slow low pulse dark bright guitar light percussion solo pads".split()


def tiny_musicgen(folder: Path) -> Path:
    """A 0.4M-parameter MusicGen with musicgen-small's audio layout (32 kHz, 50 frames/s, 4 codebooks) and a
    T5 tokenizer built from a word list (no download)."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5Tokenizer,
    )

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + w, -5.0) for w in WORDS] + [(c, -10.0) for c in "abcdefghijklmnopqrstuvwxyz,"]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)
    codebook = 2048
    audio = EncodecConfig(
        sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2], codebook_size=codebook,
        hidden_size=16, codebook_dim=16, num_filters=4, num_lstm_layers=1, compress=1, use_causal_conv=False,
        normalize=False, pad_mode="reflect",
    )  # fmt: skip
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook, hidden_size=16, num_hidden_layers=1, num_attention_heads=4, ffn_dim=32,
        max_position_embeddings=2048, num_codebooks=audio.num_quantizers, audio_channels=1,
        pad_token_id=codebook, bos_token_id=codebook, decoder_start_token_id=codebook,
    )  # fmt: skip
    text = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=4)
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder))
    for layer in model.audio_encoder.quantizer.layers:  # EnCodec leaves its codebooks at zero until trained
        layer.codebook.embed.normal_()
    model.generation_config.update(decoder_start_token_id=codebook, pad_token_id=codebook, bos_token_id=codebook)
    model.save_pretrained(folder)
    features = EncodecFeatureExtractor(feature_size=1, sampling_rate=32000, padding_side="left", return_attention_mask=True)
    MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    return folder
