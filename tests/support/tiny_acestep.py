"""A tiny randomly initialised ACE-Step 1.5 pipeline built offline and saved with `save_pretrained`, so tests
load it through `AceStepPipeline.from_pretrained(..., local_files_only=True)` exactly as a real checkpoint.
Components are sized as diffusers' own ACE-Step tests build them; the tokenizer is trained here (no download)."""

from __future__ import annotations

from pathlib import Path

from tests.support.tiny_models import WORDS

RATE = 8000  # Hz; the VAE's hop of 320 samples keeps the real model's 25 latent frames a second
EOS = "<|endoftext|>"


def tiny_tokenizer():
    """A byte-level BPE trained on the prompt template's words and the mood words, with Qwen's end-of-text as
    pad and eos (the pipeline writes it into its prompts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [
        "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n# Caption\n",
        "# Metas\n- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n",
        "# Languages\nunknown\n\n# Lyric\n[Instrumental]",
        "instrumental underscore for a told story, no vocals, " + " ".join(WORDS),
    ]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS, model_max_length=2048)


def tiny_acestep(folder: Path) -> Path:
    """A 0.2M-parameter AceStepPipeline (stereo, 8 kHz, 25 latent frames/s) saved to `folder`."""
    import torch
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    transformer = AceStepTransformer1DModel(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=8, in_channels=24, audio_acoustic_hidden_dim=8, patch_size=2, rope_theta=10000.0, sliding_window=16,
    )  # fmt: skip
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=256,
        )
    )  # fmt: skip
    condition_encoder = AceStepConditionEncoder(
        hidden_size=32, intermediate_size=64, text_hidden_dim=32, timbre_hidden_dim=8, num_lyric_encoder_hidden_layers=2,
        num_timbre_encoder_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=10000.0,
        sliding_window=16,
    )  # fmt: skip
    vae = AutoencoderOobleck(
        encoder_hidden_size=6, downsampling_ratios=[4, 8, 10], decoder_channels=3, decoder_input_channels=8,
        audio_channels=2, channel_multiples=[2, 4, 4], sampling_rate=RATE,
    )  # fmt: skip
    pipe = AceStepPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
        condition_encoder=condition_encoder, scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder
