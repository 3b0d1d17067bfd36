"""Helpers for the fault-matrix tests: timed futures and extra worker pools started by hand.

Everything here drives real processes; nothing is mocked.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsl_affinity_htex import (
    AffinityFuture,
    AffinityHighThroughputExecutor,
    RunRecord,
)

__all__ = [
    "ExtraPools",
    "Outcome",
    "Watched",
    "require",
    "run_record_of",
]


@dataclass(frozen=True)
class Outcome:
    """What a future did within an observation window, timed from a reference instant."""

    label: str
    done: bool
    elapsed: float
    value: Any = None
    error: BaseException | None = None

    def describe(self) -> str:
        if not self.done:
            return f"{self.label}: still pending after {self.elapsed:.1f}s"
        if self.error is not None:
            error = f"{type(self.error).__name__}({self.error})"
            return f"{self.label}: failed with {error} after {self.elapsed:.1f}s"
        return f"{self.label}: returned {self.value!r} after {self.elapsed:.1f}s"

    def expect_value(self, within: float, among: Collection[Any] | None = None) -> str | None:
        """None if it returned (a value in ``among``, if given) within ``within`` s; else the problem."""
        if (
            self.done
            and self.error is None
            and self.elapsed <= within
            and (among is None or self.value in among)
        ):
            return None
        wanted = "a value" if among is None else f"one of {sorted(among)}"
        return f"expected {wanted} within {within:.1f}s -- {self.describe()}"

    def expect_error(self, kind: type[BaseException], within: float, not_before: float = 0.0) -> str | None:
        """None if it failed with ``kind`` between ``not_before`` and ``within`` s; else the problem."""
        if self.done and isinstance(self.error, kind) and not_before <= self.elapsed <= within:
            return None
        return f"expected {kind.__name__} after {not_before:.1f}-{within:.1f}s -- {self.describe()}"


def require(*problems: str | None) -> None:
    """Assert that every check passed, reporting all failed ones together (a case shows its whole picture)."""
    failed = [p for p in problems if p is not None]
    assert not failed, "\n".join(failed)


class Watched:
    """A future plus the monotonic instants it was submitted and finished (via a done-callback)."""

    def __init__(self, fut: concurrent.futures.Future[Any], label: str) -> None:
        self.fut = fut
        self.label = label
        self.submitted = time.monotonic()
        self.submitted_epoch = time.time()
        self.finished: float | None = None
        fut.add_done_callback(self._on_done)

    def _on_done(self, _fut: concurrent.futures.Future[Any]) -> None:
        self.finished = time.monotonic()

    def settle(self, window: float, since: float | None = None) -> Outcome:
        """Wait until done or ``window`` s after ``since`` (default: submission); time it from ``since``."""
        origin = self.submitted if since is None else since
        concurrent.futures.wait([self.fut], timeout=max(0.0, origin + window - time.monotonic()))
        if not self.fut.done():
            return Outcome(self.label, done=False, elapsed=time.monotonic() - origin)
        end = self.finished if self.finished is not None else time.monotonic()
        error = self.fut.exception()
        value = None if error is not None else self.fut.result()
        return Outcome(self.label, done=True, elapsed=end - origin, value=value, error=error)


def run_record_of(fut: concurrent.futures.Future[Any]) -> RunRecord | None:
    """The RunRecord of an app future's executor future (None until it ran successfully)."""
    task_record = getattr(fut, "task_record", None)
    exec_fu = task_record["exec_fu"] if task_record else fut
    return exec_fu.run_record if isinstance(exec_fu, AffinityFuture) else None


class ExtraPools:
    """Worker pools started by hand for ``executor``, the way LocalVirtualClusterProvider.submit builds them.

    Each is its own session (process group), so ``kill`` SIGKILLs the shell, the pool and its workers at once,
    like ``provider.kill_node``. ``kill_all`` is the teardown for tests; it never raises.
    """

    def __init__(self, executor: AffinityHighThroughputExecutor, log_dir: Path) -> None:
        self.executor = executor
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, node: str, slots: int = 1) -> str:
        """Start one pool claiming ``node`` with ``slots`` workers; return its block id."""
        block_id = f"extra-{node}-{uuid.uuid4().hex[:6]}"
        cmd = (
            self.executor.launch_cmd.format(block_id=block_id)
            + f" --node-name {node} --max_workers_per_node={slots}"
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (
            open(self.log_dir / f"{block_id}.out", "wb") as out,
            open(self.log_dir / f"{block_id}.err", "wb") as err,
        ):
            self.procs[block_id] = subprocess.Popen(
                cmd,
                shell=True,
                start_new_session=True,
                stdout=out,
                stderr=err,
                env={**os.environ, "PARSL_CORES": str(slots)},
            )
        return block_id

    def kill(self, *block_ids: str) -> float:
        """SIGKILL the process groups of ``block_ids`` back to back; return the monotonic instant."""
        at = time.monotonic()
        for block_id in block_ids:
            os.killpg(self.procs[block_id].pid, signal.SIGKILL)
        return at

    def __enter__(self) -> ExtraPools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill_all()

    def kill_all(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
