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


class LLMOutputError(StoryforgeError):
    """The model never produced a valid answer; `raw_output` holds its last reply (saved to the run dir)."""

    exit_code = 1  # the model's doing, not the configuration's

    def __init__(self, problem: str, fix: str, raw_output: str) -> None:
        super().__init__(problem, fix)
        self.raw_output = raw_output


class StageFailed(Exception):
    """A stage raised while running. Items that finished before it are already cached."""

    def __init__(self, stage: str, item: str, cause: BaseException) -> None:
        self.stage, self.item, self.cause = stage, item, cause
        where = f"stage '{stage}'" + (f" item '{item}'" if item else "")
        if isinstance(cause, StoryforgeError):
            detail = cause.problem.rstrip(".") + (f". Fix: {cause.fix}" if cause.fix else "")
        else:
            detail = f"{type(cause).__name__}: {cause}"
        detail = " ".join(detail.split())  # one line: a server's multi-line message must not spill into the log
        super().__init__(f"{where} failed: {detail}")

    @property
    def exit_code(self) -> int:
        """2 where the cause is the configuration (its fix says what to change), else 1."""
        return 2 if isinstance(self.cause, ConfigError) else 1


def first_error(exc: BaseException) -> BaseException:
    """anyio raises exception groups; the user wants the error that started it."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
