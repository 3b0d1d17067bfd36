"""A long-lived, killable process that runs SAGA schedulers.

Why a process: a hung scheduler (SAGA's FCP can loop forever) cannot be stopped in a thread, and
SAGA's placements depend on set iteration order, i.e. on ``PYTHONHASHSEED`` (WBA's also on the global
``random``). The worker is started once with ``PYTHONHASHSEED=0``, seeds ``random``/``numpy.random``
before every request, and is reused: start-up (mostly importing SAGA) costs ~1-2 s once per caller
process, a request then costs only pickling. When a request exceeds its time budget the
worker is killed and the next request starts a fresh one.

Protocol on stdin/stdout: 8-byte big-endian length + pickle. The worker first sends ``("ready",)``;
each request ``(scheduler_name, Problem)`` gets ``("ok", placements, seconds)`` or
``("error", type_name, message)``. The worker moves its own stdout to stderr so a stray ``print`` in
a scheduler cannot corrupt the protocol.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import random
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

from saga_graphs._log import kv
from saga_graphs._problem import Problem, ProcessorPlacement
from saga_graphs.errors import SchedulerFailedError, SchedulerTimeoutError

__all__ = ["WorkerClient", "shared_worker"]

log = logging.getLogger(__name__)

_HASH_SEED = "0"
_STARTUP_TIMEOUT = 120.0


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    return pickle.loads(stream.read(int.from_bytes(header, "big")))


def _serve() -> None:
    """Worker main loop (runs in the child)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    import numpy
    import saga.schedulers  # noqa: F401  (pay the import before saying ready)

    from saga_graphs._registry import entry

    _send(out, ("ready",))
    while True:
        try:
            name, problem = _recv(inp)
        except EOFError:
            return
        # Randomised schedulers (SAGA's WBA uses the global `random`) must repeat themselves too.
        random.seed(0)
        numpy.random.seed(0)
        started = time.perf_counter()
        try:
            placements = entry(name).run(problem)
            reply: tuple[Any, ...] = ("ok", placements, time.perf_counter() - started)
        except Exception as e:  # a scheduler crash is an answer, not a worker failure
            reply = ("error", type(e).__name__, str(e)[:2000])
        _send(out, reply)


class WorkerClient:
    """Owns one worker process; thread-safe (requests are serialised)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = b""
        self._owner = os.getpid()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = _HASH_SEED
        # Pants runs tests from a sandbox whose first-party sources are only on sys.path.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._stderr = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [sys.executable, "-m", "saga_graphs._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        self._proc = proc
        self._buffer = b""
        started = time.monotonic()
        try:
            reply = self._read(started + _STARTUP_TIMEOUT)
        except TimeoutError:
            self._kill("startup timeout")
            raise SchedulerFailedError(
                f"the scheduler worker did not start within {_STARTUP_TIMEOUT:.0f} s"
            ) from None
        if reply != ("ready",):  # pragma: no cover - protocol guard
            self._kill("bad hello")
            raise SchedulerFailedError(f"the scheduler worker sent {reply!r} instead of ready")
        log.info(
            "scheduler_worker.started %s", kv(pid=proc.pid, seconds=round(time.monotonic() - started, 3))
        )
        return proc

    def _read(self, deadline: float | None) -> Any:
        """Read one framed message from the worker, waiting at most until ``deadline``."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        need: int | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                if need is None and len(self._buffer) >= 8:
                    need = 8 + int.from_bytes(self._buffer[:8], "big")
                if need is not None and len(self._buffer) >= need:
                    msg, self._buffer = self._buffer[8:need], self._buffer[need:]
                    return pickle.loads(msg)
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    raise TimeoutError
                if not sel.select(timeout):
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise SchedulerFailedError(f"the scheduler worker died: {self._stderr_tail()}")
                self._buffer += chunk

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return text[-1500:].strip() or "(no output)"

    def _kill(self, reason: str) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for s in (proc.stdin, proc.stdout):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        log.info("scheduler_worker.stopped %s", kv(pid=proc.pid, reason=reason))

    def run(
        self, name: str, problem: Problem, time_budget: float | None
    ) -> tuple[list[ProcessorPlacement], float]:
        """Run scheduler ``name`` on ``problem``; returns (placements, seconds spent scheduling).

        Raises :class:`SchedulerTimeoutError` (and kills the worker) when ``time_budget`` seconds pass
        without an answer, :class:`SchedulerFailedError` when the scheduler raised.
        """
        with self._lock:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
            assert proc.stdin is not None
            sent = time.monotonic()
            try:
                _send(proc.stdin, (name, problem))
                reply = self._read(None if time_budget is None else sent + time_budget)
            except TimeoutError:
                self._kill(f"{name} exceeded {time_budget} s")
                raise SchedulerTimeoutError(
                    f"scheduler {name!r} did not finish within its time budget of {time_budget} s "
                    f"({len(problem.tasks)} tasks, {len(problem.processors)} processors); it was stopped"
                ) from None
            except (BrokenPipeError, SchedulerFailedError) as e:
                self._kill("worker failure")
                raise SchedulerFailedError(f"scheduler {name!r}: {e}") from None
        if reply[0] == "ok":
            return reply[1], reply[2]
        raise SchedulerFailedError(f"scheduler {name!r} raised {reply[1]}: {reply[2]}")

    def close(self) -> None:
        """Stop the worker (it also exits by itself when this process's end of the pipe closes)."""
        if os.getpid() != self._owner:  # a forked child must not kill its parent's worker
            return
        with self._lock:
            self._kill("closed")


_shared: WorkerClient | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_worker() -> WorkerClient:
    """The process-wide worker used by :func:`saga_graphs.plan`.

    A forked child (Parsl forks) must not share its parent's pipes: it gets its own worker.
    """
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared = WorkerClient()
            _shared_pid = os.getpid()
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    _serve()
