"""The live counts of a run (``dfk.progress()``) and their one-line rendering, read from the records."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ._records import PlannedTask

__all__ = ["progress", "progress_line"]


def progress(tasks: Iterable[PlannedTask], held: int, t0: float | None) -> dict[str, Any]:
    """See ``SagaDataFlowKernel.progress``. ``predicted_finish``: planned ends, pushed back to "now" for
    tasks running late; finished tasks count with their actual end."""
    now = (time.time() - t0) if t0 is not None else None
    nodes: dict[str, dict[str, int]] = {}
    finish: float | None = None
    counts = {"planned": 0, "released": 0, "running": 0, "done": 0, "failed": 0}
    total = replanned = 0
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
