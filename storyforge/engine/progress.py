"""Terminal progress: a line per stage start and finish, a bar across `for_each` items when stderr is a terminal.

`Reporter` is also how other front ends (the API's job store) follow a run: subclass it, or pass `on_event`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from storyforge.models import StageRecord

log = logging.getLogger("storyforge")


class Reporter:
    """Receives engine events. The default logs lines and, on a terminal, draws item bars with rich."""

    def __init__(self, on_event: Callable[[dict], None] | None = None, bars: bool | None = None) -> None:
        self.on_event = on_event
        self._bars = sys.stderr.isatty() if bars is None else bars
        self._progress = None
        self._tasks: dict[str, int] = {}

    def _emit(self, **event: object) -> None:
        if self.on_event:
            self.on_event(event)

    def stage_started(self, stage: str, items: int) -> None:
        log.info("▶ %s%s", stage, f" ({items} items)" if items else "")
        if items and self._bars:
            if self._progress is None:
                from rich.progress import Progress

                self._progress = Progress(transient=True)
                self._progress.start()
            self._tasks[stage] = self._progress.add_task(stage, total=items)
        self._emit(event="stage_started", stage=stage, items=items)

    def item_done(self, stage: str, hit: bool) -> None:
        if stage in self._tasks:
            self._progress.advance(self._tasks[stage])
        self._emit(event="item_done", stage=stage, hit=hit)

    def stage_finished(self, stage: str, record: StageRecord) -> None:
        if stage in self._tasks:
            self._progress.remove_task(self._tasks.pop(stage))
        log.info("✔ %s: %d hit, %d miss, %.2fs", stage, record.hits, record.misses, record.seconds)
        self._emit(event="stage_finished", stage=stage, hits=record.hits, misses=record.misses, seconds=record.seconds)

    def tick(self) -> None:
        """Called a few times a second while a run is going: a front end can raise here to stop it (the run is
        cancelled at once, child processes included) even while a long unit is in progress."""
        if self.on_event:
            self._emit(event="tick")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
