"""Child processes of a run (ffmpeg, espeak-ng, any tool a service runs): none outlives the work that started it.

Every child starts in a process group of its own and is registered under the run that started it (a context
variable that anyio copies into the run's tasks and worker threads). When the run is cancelled or stopped (a
cancelled job, a stopping server, Ctrl-C), `kill_run` kills those groups at once, so a thread blocked on a child
returns within a moment instead of when the child would have finished. On Linux each child is also started
through util-linux's `setpriv --pdeathsig KILL`, which asks the kernel to kill it when the thread that started it
dies (`PR_SET_PDEATHSIG`), so even a server killed with SIGKILL leaves no orphan behind.

Not through Popen's `preexec_fn`: with one, Python runs its fork hooks in the parent, and the `logging` hook takes
the logging lock, which a Ctrl-C or SIGTERM raised in the main thread while it held that lock leaves taken: the
next child then never starts and the run hangs (seen in the SIGTERM-during-composition test). `setpriv` keeps the
fork free of Python code.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

RUN: contextvars.ContextVar[object | None] = contextvars.ContextVar("storyforge_run", default=None)
_groups: dict[object, set[int]] = {}  # run token -> process group ids of its live children
_killed: set[object] = set()  # runs being stopped: a child they start now is killed at once
_lock = threading.Lock()
_PR_SET_PDEATHSIG = 1
_prctl = None
if sys.platform.startswith("linux"):  # looked up here, not in the forked child (no loader lock taken there)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
    _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    _prctl.restype = ctypes.c_int


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when the thread that started it ends (Linux). Given the parent's pid,
    also end now if that parent is already gone (it died before the request was made)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if parent is not None and os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)


@functools.cache
def _setpriv() -> str | None:
    """util-linux's setpriv, where it takes --pdeathsig (2.33 and later; not BusyBox's): checked once."""
    found = shutil.which("setpriv") if _prctl is not None else None
    try:
        works = found is not None and subprocess.run([found, "--pdeathsig", "KILL", "--", "true"], capture_output=True,
                                                     timeout=10).returncode == 0  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        works = False
    return found if works else None


def command(cmd: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
    """The command as a run's child starts it: killed by the kernel if the thread that started it dies (where
    `setpriv` is installed). That thread must wait for the child (as `run` and `wait_process` do): anyio retires
    idle worker threads, and the signal is sent when the thread ends."""
    path = (env if env is not None else os.environ).get("PATH")
    setpriv = _setpriv()
    wrap = setpriv and shutil.which(cmd[0], path=path)  # a missing program still fails in Popen: FileNotFoundError
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if wrap else list(cmd)


SPAWN: dict[str, Any] = {"start_new_session": True}  # each child in a process group of its own


@contextlib.contextmanager
def run_scope() -> Iterator[object]:
    """Marks the children started inside (in tasks and threads too) as this run's; kills any left at exit."""
    token = object()
    reset = RUN.set(token)
    try:
        yield token
    finally:
        RUN.reset(reset)
        kill_run(token)
        with _lock:
            _killed.discard(token)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_run(token: object) -> int:
    """Kill every live child group of the run, and any it starts from now on; returns how many there were."""
    with _lock:
        _killed.add(token)
        groups = list(_groups.pop(token, ()))
    for pgid in groups:
        kill_group(pgid)
    return len(groups)


def register(pid: int) -> object:
    token = RUN.get()
    with _lock:
        stopped = token is not None and token in _killed
        if not stopped:
            _groups.setdefault(token, set()).add(pid)
    if stopped:  # started just as its run was stopped: it must not outlive it
        kill_group(pid)
    return token


def unregister(token: object, pid: int) -> None:
    with _lock:
        if (members := _groups.get(token)) is not None:
            members.discard(pid)
            if not members:
                _groups.pop(token, None)


def run(cmd: Sequence[str], *, input: bytes | None = None, timeout: float | None = None, cwd: Any = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    """`subprocess.run(cmd, capture_output=True)` for a run's child: killed with its group on timeout, on an error
    here, or when the run is cancelled (it then returns with the kill's exit code)."""
    proc = subprocess.Popen(command(cmd, env), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, **SPAWN)  # fmt: skip
    token = register(proc.pid)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except BaseException:
        kill_group(proc.pid)
        proc.communicate()
        raise
    finally:
        unregister(token, proc.pid)
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


async def wait_process(cmd: Sequence[str], *, stderr: Any, cwd: Any = None) -> int:
    """Run a child from async code and return its exit code; the event loop stays free. Cancelling the caller kills
    the child's group before this returns. (anyio's `open_process` cannot ask for the parent-death signal, so this
    uses asyncio's, the backend every storyforge run uses.)"""
    import asyncio

    import anyio

    process = await asyncio.create_subprocess_exec(*command(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                   stderr=stderr, cwd=cwd, **SPAWN)  # fmt: skip
    token = register(process.pid)
    try:
        return await process.wait()
    except BaseException:
        kill_group(process.pid)
        with anyio.CancelScope(shield=True):
            await process.wait()
        raise
    finally:
        unregister(token, process.pid)
