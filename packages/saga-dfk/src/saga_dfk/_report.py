"""The run report: plan vs reality per task, makespans and fidelity (JSON-able dict).

Kept separate from the kernel so ``saga-dfk report RUN.json`` can read a report without Parsl running.
Makespans are spans (latest end minus earliest start) so that the planned and actual figures are
comparable even though workers start a little after the plan clock's zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._dfk import _SagaTask

__all__ = ["REPORT_VERSION", "build_report", "load_report", "summarize_report"]

REPORT_VERSION = 1


def _span(intervals: Sequence[tuple[float, float]]) -> float | None:
    if not intervals:
        return None
    return max(end for _, end in intervals) - min(start for start, _ in intervals)


def build_report(
    *,
    tasks: Sequence[_SagaTask],
    rounds: Sequence[Mapping[str, Any]],
    network: Mapping[str, Any] | None,
    scheduler: str | Sequence[str],
    planning: str,
    t0: float | None,
    lost_nodes: Sequence[str],
) -> dict[str, Any]:
    """Assemble the report from the kernel's bookkeeping."""
    rows: list[dict[str, Any]] = []
    planned_iv: list[tuple[float, float]] = []
    actual_iv: list[tuple[float, float]] = []
    on_node = 0
    compared = 0
    off_plan: list[int] = []
    for st in sorted(tasks, key=lambda t: t.tid):
        a, r = st.assignment, st.actual
        if a is not None:
            planned_iv.append((a.start, a.end))
        if r is not None:
            actual_iv.append((r.start, r.end))
        if a is not None and r is not None:
            compared += 1
            if a.node == r.node:
                on_node += 1
            else:
                off_plan.append(st.tid)
        rows.append(
            {
                "id": st.tid,
                "name": st.name,
                "function": st.func_name,
                "parents": list(st.parents),
                "planned": asdict(a) if a is not None else None,
                "actual": asdict(r) if r is not None else None,
                "replanned": list(st.replans),
                "status": st.record["status"].name if "status" in st.record else None,
                "error": repr(st.error) if st.error is not None else None,
            }
        )
    planned = _span(planned_iv)
    actual = _span(actual_iv)
    return {
        "version": REPORT_VERSION,
        "scheduler": scheduler if isinstance(scheduler, str) else list(scheduler),
        "planning": planning,
        "t0": t0,
        "network": dict(network) if network is not None else None,
        "rounds": [dict(r) for r in rounds],
        "lost_nodes": list(lost_nodes),
        "planned_makespan": planned,
        "actual_makespan": actual,
        "fidelity": {
            "tasks_compared": compared,
            "on_planned_node": (on_node / compared) if compared else None,
            "off_plan_tasks": off_plan,
            "makespan_ratio": (actual / planned) if planned and actual is not None else None,
        },
        "replanned_tasks": [row["id"] for row in rows if row["replanned"]],
        "tasks": rows,
    }


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report written by SagaDataFlowKernel.write_report, checking it is one."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "tasks" not in data or "fidelity" not in data:
        raise ValueError(f"{path} is not a saga-dfk run report (expected keys 'tasks' and 'fidelity')")
    return data


def summarize_report(report: Mapping[str, Any]) -> str:
    """A few human lines: makespans and fidelity."""
    fid = report["fidelity"]
    pm, am = report.get("planned_makespan"), report.get("actual_makespan")
    on = fid.get("on_planned_node")
    ratio = fid.get("makespan_ratio")
    lines = [
        f"tasks: {len(report['tasks'])}  rounds: {len(report.get('rounds', []))}  scheduler: {report.get('scheduler')}",
        f"planned makespan: {pm:.2f} s" if pm is not None else "planned makespan: n/a",
        f"actual makespan:  {am:.2f} s" if am is not None else "actual makespan: n/a",
        f"on planned node:  {on * 100:.1f}% of {fid['tasks_compared']} "
        f"(off-plan: {len(fid['off_plan_tasks'])})"
        if on is not None
        else "on planned node: n/a",
        f"actual/planned makespan: {ratio:.2f}" if ratio is not None else "actual/planned makespan: n/a",
    ]
    if report.get("replanned_tasks"):
        lines.append(f"re-planned after node loss: {report['replanned_tasks']}")
    return "\n".join(lines)
