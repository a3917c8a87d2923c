"""A tiny randomly initialised Kokoro saved in the real Hugging Face layout (config.json, kokoro-v1_0.pth,
voices/<name>.pt), so tests load it through exactly the path production uses for hexgrad/Kokoro-82M.

Its vocabulary covers what espeak-ng gives for English, Hindi and the other languages Kokoro speaks (StyleTTS2's
symbol set, as Kokoro's is, with the nasal mark). hidden_dim stays 512: Kokoro's decoder hard-codes 512 and 1024
channels. `max_dur` 4 keeps the random durations short (1-4 frames of 25 ms per phoneme). About 56M parameters.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

PAD = "$"
PUNCTUATION = ';:,.!?¡¿—…"«»“”() '
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
    "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'ᵻʣʥʦʨᵝꭧᵊ\u0303\u0329"  # the last two: nasal (French, Hindi, Portuguese) and syllabic marks
)
VOICES = ("af_heart", "am_michael", "bf_emma", "bm_george", "af_bella", "hf_alpha", "hm_omega", "hf_beta", "hm_psi")


def vocab() -> dict[str, int]:
    return {symbol: i for i, symbol in enumerate(dict.fromkeys(PAD + PUNCTUATION + LETTERS + IPA))}


def tiny_kokoro(folder: Path, voices: tuple[str, ...] = VOICES) -> Path:
    """Write a random Kokoro into `folder` with a voice pack for each of `voices`; return the folder."""
    import torch
    from kokoro.model import KModel

    symbols = vocab()
    config = {
        "vocab": symbols, "n_token": len(symbols), "hidden_dim": 512, "n_layer": 1, "style_dim": 128, "max_dur": 4,
        "dropout": 0.0, "n_mels": 80, "text_encoder_kernel_size": 5,
        "plbert": {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
                   "max_position_embeddings": 512, "num_hidden_layers": 1, "dropout": 0.0},
        "istftnet": {"upsample_kernel_sizes": [4], "upsample_rates": [2], "gen_istft_hop_size": 150,
                     "gen_istft_n_fft": 300, "resblock_dilation_sizes": [[1, 3, 5]], "resblock_kernel_sizes": [3],
                     "upsample_initial_channel": 512},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    torch.manual_seed(0)
    empty = folder / "empty.pth"
    torch.save({}, empty)  # KModel loads nothing from it: the weights stay as initialised
    with warnings.catch_warnings():  # torch's weight_norm deprecation, from inside kokoro
        warnings.simplefilter("ignore", FutureWarning)
        model = KModel(repo_id="hexgrad/Kokoro-82M", config=str(folder / "config.json"), model=str(empty))
    empty.unlink()
    parts = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
    torch.save({k: getattr(model, k).state_dict() for k in parts}, folder / "kokoro-v1_0.pth")
    (folder / "voices").mkdir(exist_ok=True)
    for name in voices:
        torch.save(torch.randn(510, 1, 256) * 0.5, folder / "voices" / f"{name}.pt")
    return folder
