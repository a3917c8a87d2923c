"""What every torch-backed service shares: importing torch with a clear error, the CPU thread count, and
giving memory back when a model is unloaded."""

from __future__ import annotations

import gc
import importlib.util
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


def free_memory() -> None:
    """Collect garbage and return cached CUDA memory (call after dropping a model's last reference)."""
    gc.collect()
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
