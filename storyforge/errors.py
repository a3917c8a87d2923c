"""Errors a user can act on. Each names the problem and the fix; the CLI prints it as one line, exit code 2."""

from __future__ import annotations


class StoryforgeError(Exception):
    """A problem with the user's input or configuration, with what to do about it."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} Fix: {fix}" if fix else problem)

    def __reduce__(self) -> tuple:
        """Pickle by state, not by re-calling __init__: subclasses take other arguments, and errors raised in a
        Ray actor or a launcher's job process must come back whole."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(StoryforgeError):
    """A recipe, stage or service configuration that cannot run."""


class StageFailed(Exception):
    """A stage raised while running. Items that finished before it are already cached."""

    exit_code = 1

    def __init__(self, stage: str, item: str, cause: BaseException) -> None:
        self.stage, self.item, self.cause = stage, item, cause
        where = f"stage '{stage}'" + (f" item '{item}'" if item else "")
        detail = cause.problem if isinstance(cause, StoryforgeError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{where} failed: {detail}")


def first_error(exc: BaseException) -> BaseException:
    """anyio raises exception groups; the user wants the error that started it."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
