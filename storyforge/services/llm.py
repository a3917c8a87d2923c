"""What every LLM backend shares: concurrency (raised by `LLM_PARALLEL=true`), retries, output format."""

from __future__ import annotations

from typing import Literal

from storyforge.engine.contract import Service, knob


class LLMBackend(Service):
    class Params(Service.Params):
        max_concurrency: int = knob(1, "Calls at once when LLM_PARALLEL is off")
        parallel: bool = knob(False, "LLM_PARALLEL: allow parallel_limit calls at once")
        parallel_limit: int = knob(8, "Calls at once when parallel is on")
        max_retries: int = knob(3, "MAX_RETRIES: re-asks after an answer that does not validate")
        output_format: Literal["json", "toon"] = "json"  # format the model is asked to answer in

    @property
    def concurrency(self) -> int:
        return self.params.parallel_limit if self.params.parallel else self.params.max_concurrency
