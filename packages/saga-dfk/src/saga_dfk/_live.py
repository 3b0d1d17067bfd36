"""What a person watching the run sees: live counts (``dfk.progress()``) read from the records, their
one-line rendering, and the thread that redraws the line on a terminal and rewrites the live HTML page."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._log import kv
from ._records import PlannedTask

__all__ = ["LiveView", "progress", "progress_line"]

log = logging.getLogger(__name__)


def progress(
    tasks: Iterable[PlannedTask], finished: Mapping[str, Any], held: int, t0: float | None
) -> dict[str, Any]:
    """See ``SagaDataFlowKernel.progress``. ``tasks``: the tasks not finished; ``finished``: the summary of
    the finished ones (``FinishedTasks.summary()``). ``predicted_finish``: planned ends, pushed back to "now"
    for tasks running late; finished tasks count with their actual end."""
    now = (time.time() - t0) if t0 is not None else None
    nodes: dict[str, dict[str, int]] = {
        n: {"planned": 0, "running": 0, **c} for n, c in finished["nodes"].items()
    }
    finish: float | None = finished["finish"]
    counts = {
        "planned": finished["planned"],
        "released": finished["total"],
        "running": 0,
        "done": finished["done"],
        "failed": finished["failed"],
    }
    total, replanned = finished["total"], finished["replanned"]
    for t in tasks:
        if t.opted_out:
            continue
        total += 1
        replanned += bool(t.replans)
        a = t.assignment
        state = t.state
        failed = state == "failed"
        running = state == "running"
        counts["planned"] += a is not None
        counts["released"] += t.released or t.done
        counts["running"] += running
        counts["done"] += state == "done"
        counts["failed"] += failed
        node = t.actual.node if t.actual is not None else a.node if a is not None else None
        if node is not None:
            per = nodes.setdefault(node, {"planned": 0, "running": 0, "done": 0, "failed": 0})
            per[state if state in ("running", "done", "failed") else "planned"] += 1
        end: float | None = None
        if t.done:
            end = t.actual.end if t.actual is not None else None
        elif a is not None:
            end = a.end
            if now is not None and now > a.start:
                end = max(a.end, now) if running else max(a.end, now + (a.end - a.start))
        if end is not None:
            finish = end if finish is None else max(finish, end)
    return {
        "total": total,
        "held": held,
        **counts,
        "replanned": replanned,
        "elapsed": now,
        "predicted_finish": finish,
        "nodes": dict(sorted(nodes.items())),
    }


def progress_line(p: Mapping[str, Any]) -> str:
    """One line of plain text: what ``SagaConfig(progress=True)`` shows on a terminal."""
    per = " ".join(f"{n}:{c['running']}r/{c['done']}d" for n, c in p["nodes"].items())
    clock = ""
    if p["elapsed"] is not None:
        clock = f" | {p['elapsed']:.1f} s"
        if p["predicted_finish"] is not None:
            clock += f", finish ~{p['predicted_finish']:.1f} s"
    return (
        f"saga: {p['done']}/{p['total']} done, {p['running']} running, {p['failed']} failed, "
        f"{p['planned']} planned, {p['held']} held{' | ' + per if per else ''}{clock}"
    )


class LiveView:
    """Redraws ``line()`` on stderr (``show_line``: only when it is a terminal) and calls ``write_page()``
    every ``interval`` seconds while the run goes on; ``stop()`` draws the last line and ends the line."""

    def __init__(
        self,
        line: Callable[[], str],
        write_page: Callable[[], object] | None,
        *,
        interval: float,
        show_line: bool,
    ) -> None:
        self._line = line
        self._write_page = write_page
        self._interval = interval
        self._show = show_line
        self._stop = threading.Event()
        self._shown = False
        self._thread = threading.Thread(target=self._loop, name="saga-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._shown:
            sys.stderr.write("\r" + self._line() + "\x1b[K\n")
            sys.stderr.flush()

    def _loop(self) -> None:
        period = min(self._interval, 0.5) if self._show else self._interval
        last_page = 0.0
        while not self._stop.wait(period):
            try:
                if self._show:
                    sys.stderr.write("\r" + self._line() + "\x1b[K")
                    sys.stderr.flush()
                    self._shown = True
                if self._write_page is not None and time.monotonic() - last_page >= self._interval:
                    last_page = time.monotonic()
                    self._write_page()
            except Exception as exc:  # the view must never break the run
                log.debug("saga.live_view_failed %s", kv(error=repr(exc)))
