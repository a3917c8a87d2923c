"""What every torch-backed service shares: importing torch with a clear error, the CPU thread count, one model
built at a time, and giving memory back when a model is unloaded."""

from __future__ import annotations

import gc
import importlib.util
import threading
from types import ModuleType

from storyforge.errors import StoryforgeError


def load_torch(backend: str, extra: str, threads: int | None = None) -> ModuleType:
    """torch, with transformers importable too, or one clear error naming the extra to install. Sets the CPU
    thread count when given: unbounded threads crawl on a busy small machine."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise StoryforgeError(f"{backend} needs torch and transformers.", f"pip install 'storyforge[{extra}]'.") from exc
    if threads:
        torch.set_num_threads(threads)
    return torch


# Building a model is not thread-safe: diffusers and transformers build on the meta device by patching
# torch.nn.Module for the whole process (accelerate's init_empty_weights), so a model another thread builds
# meanwhile (the voice while a keyframe pipeline loads) gets empty meta weights. Every loader holds this lock.
BUILDING = threading.RLock()
# torch's global random state: code that seeds it and then draws from it (Kokoro's vocoder noise, MusicGen's
# sampling) holds this lock, so another thread's seed or draws cannot change what it makes.
RANDOM = threading.Lock()


def free_memory() -> None:
    """Collect garbage and return cached CUDA memory (call after dropping a model's last reference)."""
    gc.collect()
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
