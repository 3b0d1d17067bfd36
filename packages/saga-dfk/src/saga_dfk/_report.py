"""The run report: plan vs reality per task, makespans and fidelity (JSON-able dict).

Kept separate from the kernel so ``saga-dfk report RUN.json`` can read a report without Parsl running.
Makespans are spans (``saga_graphs.span``: latest end minus earliest start) so that the planned and actual
figures are comparable even though workers start a little after the plan clock's zero.

Per task the report keeps the plan (``TaskAssignment``) and the run: the executor future's
``parsl_affinity_htex.RunRecord`` moved onto the plan clock, serialized as its fields (node, hostname,
start, end) and read back with :func:`actual_run`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import saga_graphs

from ._errors import InvalidReportError

if TYPE_CHECKING:
    from parsl_affinity_htex import RunRecord

    from ._records import PlannedTask, TaskAssignment

__all__ = [
    "ACTUAL_MAKESPAN_DEFINITION",
    "PLANNED_MAKESPAN_DEFINITION",
    "REPORT_VERSION",
    "actual_run",
    "build_report",
    "data_movement",
    "describe_planned_span",
    "error_info",
    "gantt_tasks",
    "live_view",
    "load_report",
    "movement_totals",
    "outcome_counts",
    "row_outcome",
    "summarize_report",
]

REPORT_VERSION = 1

#: THE definition of a report's planned makespan (the demo uses it for its fork-join subset too).
PLANNED_MAKESPAN_DEFINITION = (
    "planned span of the {what}: from the first planned start to the last planned end, on the plan clock"
)
ACTUAL_MAKESPAN_DEFINITION = "actual span of the {what}: from the first actual start to the last actual end"

#: Parsl task states (``States.name``) -> report outcome
_OUTCOMES = {"exec_done": "done", "memo_done": "done", "failed": "failed", "dep_fail": "dep_failed"}


def error_info(exc: BaseException | None) -> dict[str, str] | None:
    """``{"type": type(exc).__name__, "message": str(exc)}``, or None."""
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)}


def row_outcome(row: Mapping[str, Any]) -> str:
    """``done``, ``failed``, ``dep_failed`` (a dependency failed, so it never ran) or ``not_finished``;
    from the row's ``outcome`` or, for older reports, its Parsl ``status``."""
    outcome = row.get("outcome")
    if isinstance(outcome, str) and outcome:
        return outcome
    return _OUTCOMES.get(str(row.get("status")), "failed" if row.get("error") else "not_finished")


def outcome_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many tasks are done, failed, dependency-failed and not finished."""
    counts = {"done": 0, "failed": 0, "dep_failed": 0, "not_finished": 0}
    for row in rows:
        outcome = row_outcome(row)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def describe_planned_span(
    planned: Sequence[Mapping[str, Any]] | Sequence[TaskAssignment], what: str | None = None
) -> tuple[float | None, str]:
    """The planned makespan of ``planned`` (assignments or their dicts) and the sentence saying what it
    covers: ``"5.30 s = planned span of the 52 fork-join tasks: from the first planned start (3.02 s) to
    the last planned end (8.32 s), on the plan clock"``. ``what`` defaults to "N tasks in this report"."""
    starts = [float(p["start"] if isinstance(p, Mapping) else p.start) for p in planned]
    ends = [float(p["end"] if isinstance(p, Mapping) else p.end) for p in planned]
    what = what or f"{len(starts)} planned tasks in this report"
    if not starts:
        return None, f"n/a (no {what})"
    lo, hi = min(starts), max(ends)
    text = PLANNED_MAKESPAN_DEFINITION.format(what=what)
    text = text.replace("first planned start", f"first planned start ({lo:.2f} s)").replace(
        "last planned end", f"last planned end ({hi:.2f} s)"
    )
    return hi - lo, f"{hi - lo:.2f} s = {text}"


def data_movement(tasks: Sequence[PlannedTask]) -> list[dict[str, Any]]:
    """Per dependency edge (parent -> child) whose child ran: how the parent's result reached it.

    ``via``: ``"local"`` (the child's node store held it: parent and child on one node), ``"peer"`` (fetched
    from the parent's node store on another node), or ``"driver"`` (the result went up to the driver and
    down again, as in plain HTEx: no data plane, or a result below its threshold); ``bytes`` moved and, for
    store fetches, ``seconds`` the fetch took on the child's worker. Measured by the workers (RunRecord).
    """
    by_key = {t.actual.output_key: t for t in tasks if t.actual is not None and t.actual.output_key}
    by_id = {t.tid: t for t in tasks}
    edges: list[dict[str, Any]] = []
    for child in sorted(tasks, key=lambda t: t.tid):
        run = child.actual
        if run is None:
            continue
        fetched = {}
        for fetch in getattr(run, "inputs", ()):
            parent = by_key.get(fetch.key)
            if parent is not None:
                fetched[parent.tid] = fetch
        for pid in child.parents:
            parent = by_id.get(pid)
            if parent is None or parent.actual is None:
                continue
            fetch = fetched.get(pid)
            if fetch is not None:
                edges.append(
                    {
                        "parent": pid,
                        "child": child.tid,
                        "via": "local" if fetch.local else "peer",
                        "bytes": fetch.nbytes,
                        "seconds": fetch.seconds,
                    }
                )
            else:
                edges.append(
                    {
                        "parent": pid,
                        "child": child.tid,
                        "via": "driver",
                        "bytes": parent.output_bytes,
                        "seconds": None,
                    }
                )
    return edges


def movement_totals(edges: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Edges and bytes per ``via`` (local, peer, driver), and the fetch seconds of the store ones."""
    totals: dict[str, dict[str, float]] = {}
    for edge in edges:
        t = totals.setdefault(str(edge["via"]), {"edges": 0, "bytes": 0, "seconds": 0.0})
        t["edges"] += 1
        t["bytes"] += int(edge["bytes"] or 0)
        t["seconds"] += float(edge["seconds"] or 0.0)
    return totals


def build_report(
    *,
    tasks: Sequence[PlannedTask],
    rounds: Sequence[Mapping[str, Any]],
    network: Mapping[str, Any] | None,
    scheduler: str | Sequence[str],
    planning: str,
    t0: float | None,
    lost_nodes: Sequence[str],
    rounds_total: int | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report from the task records (``rounds``: the latest round summaries kept,
    ``rounds_total`` how many rounds ran in all; ``calibration``: the node and function factors learned)."""
    rows: list[dict[str, Any]] = []
    planned_runs: list[TaskAssignment] = []
    actual_runs: list[RunRecord] = []
    on_node = 0
    compared = 0
    off_plan: list[int] = []
    opted_out = 0
    for st in sorted(tasks, key=lambda t: t.tid):
        if st.opted_out:  # stock placement: nothing planned to compare with (counted, not listed)
            opted_out += 1
            continue
        a, r = st.assignment, st.actual
        if a is not None:
            planned_runs.append(a)
        if r is not None:
            actual_runs.append(r)
        status = st.status
        if status is None and st.record is not None and "status" in st.record:
            status = st.record["status"].name
        failure = st.failure if st.failure is not None else error_info(st.error)  # the task's, or planning's
        outcome = _OUTCOMES.get(str(status), "failed" if failure is not None else "not_finished")
        if outcome == "done" and failure is not None:
            outcome = "failed"
        if outcome == "failed" and failure is not None and failure.get("type") == "DependencyError":
            outcome = "dep_failed"
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
                "replanned": list(st.replans or ()),
                "label": st.label,
                "status": status,
                "outcome": outcome,
                "error": failure,
                "output_bytes": st.output_bytes,
            }
        )
    planned = saga_graphs.span(planned_runs)
    actual = saga_graphs.span(actual_runs)
    counts = outcome_counts(rows)
    edges = data_movement([t for t in tasks if not t.opted_out])
    return {
        "version": REPORT_VERSION,
        "scheduler": scheduler if isinstance(scheduler, str) else list(scheduler),
        "planning": planning,
        "t0": t0,
        "network": dict(network) if network is not None else None,
        "rounds": [dict(r) for r in rounds],
        "opted_out_tasks": opted_out,
        "rounds_total": rounds_total if rounds_total is not None else len(rounds),
        "calibration": dict(calibration or {}),
        "lost_nodes": list(lost_nodes),
        "planned_makespan": planned,
        "planned_makespan_covers": {
            "definition": PLANNED_MAKESPAN_DEFINITION.format(
                what=f"{len(planned_runs)} planned tasks in this report"
            ),
            "tasks": len(planned_runs),
            "first_planned_start": min((p.start for p in planned_runs), default=None),
            "last_planned_end": max((p.end for p in planned_runs), default=None),
        },
        "actual_makespan": actual,
        "actual_makespan_covers": {
            "definition": ACTUAL_MAKESPAN_DEFINITION.format(
                what=f"{len(actual_runs)} tasks in this report that ran"
            ),
            "tasks": len(actual_runs),
        },
        "counts": counts,
        "fidelity": {
            "tasks_compared": compared,
            "on_planned_node": (on_node / compared) if compared else None,
            "off_plan_tasks": off_plan,
            "makespan_ratio": (actual / planned) if planned and actual is not None else None,
        },
        "replanned_tasks": [row["id"] for row in rows if row["replanned"]],
        "data_movement": {"totals": movement_totals(edges), "edges": edges},
        "tasks": rows,
    }


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report written by SagaDataFlowKernel.write_report, checking it is one.

    Raises :class:`~saga_dfk.errors.InvalidReportError` (a ValueError) for JSON that is not a run report.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "tasks" not in data or "fidelity" not in data:
        raise InvalidReportError(
            f"{path} is not a saga-dfk run report (expected keys 'tasks' and 'fidelity')"
        )
    return data


def actual_run(row: Mapping[str, Any]) -> RunRecord | None:
    """The RunRecord of one report row (``report["tasks"][i]``), on the report's plan clock; None if the
    task did not run. Add ``report["t0"]`` to its times for worker epoch seconds."""
    from parsl_affinity_htex import InputFetch, RunRecord

    run = row.get("actual")
    if not run:
        return None
    try:
        return RunRecord(
            node=str(run["node"]),
            hostname=str(run.get("hostname") or run["node"]),
            start=float(run["start"]),
            end=float(run["end"]),
            output_bytes=run.get("output_bytes"),
            output_store=run.get("output_store"),
            output_key=run.get("output_key"),
            inputs=tuple(InputFetch(**fetch) for fetch in run.get("inputs") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidReportError(
            f"task {row.get('id')!r}: actual run {run!r} needs node, start and end"
        ) from exc


def gantt_tasks(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per report row, keyed by its task name (``t13``, the key ``schedule_from_report`` uses): what a
    Gantt chart shows besides times (``saga_graphs.gantt_html(..., tasks=...)``): function, label
    (the caller's name, when one was set), status (done / failed / dep_failed) and error."""
    out: dict[str, dict[str, Any]] = {}
    for row in report["tasks"]:
        out[str(row["name"])] = {
            "function": row.get("function"),
            "label": row.get("label"),
            "status": row_outcome(row),
            "error": row.get("error"),
        }
    return out


#: seconds between reloads of the live HTML page while the run goes on
LIVE_REFRESH_SECONDS = 2


def utilisation(report: Mapping[str, Any], now: float, slots: Mapping[str, int]) -> dict[str, float]:
    """Per node: the fraction of its slot-seconds from 0 to ``now`` (plan clock) spent on finished runs."""
    busy: dict[str, float] = dict.fromkeys(slots, 0.0)
    for row in report["tasks"]:
        run = row.get("actual")
        if run:
            node = str(run["node"])
            ran = min(float(run["end"]), now) - max(float(run["start"]), 0.0)
            busy[node] = busy.get(node, 0.0) + max(0.0, ran)
    if now <= 0:
        return dict.fromkeys(busy, 0.0)
    return {node: min(1.0, b / (now * max(1, slots.get(node, 1)))) for node, b in busy.items()}


def live_view(
    report: Mapping[str, Any],
    progress: Mapping[str, Any],
    path: str | Path,
    *,
    final: bool,
    nodes: Mapping[str, int],
) -> Path:
    """Write the live HTML view of a run: the report's Gantt (planned vs actual) with a "now" line at
    ``progress["elapsed"]``, the predicted finish, per-node utilisation, and -- unless ``final`` -- a
    ``<meta http-equiv="refresh">`` so an open browser follows the run. Atomic (gantt_html)."""
    from ._demo import schedule_from_report

    schedule, actual = schedule_from_report(report)
    now = progress.get("elapsed")
    counts = progress
    title = (
        f"saga-dfk run {'finished' if final else 'in progress'}: {counts.get('done', 0)}/{counts.get('total', 0)} "
        f"done, {counts.get('running', 0)} running, {counts.get('failed', 0)} failed"
    )
    return saga_graphs.gantt_html(
        schedule,
        path,
        actual=actual,
        tasks=gantt_tasks(report),
        title=title,
        now=now,
        predicted_finish=progress.get("predicted_finish"),
        utilisation=utilisation(report, now, nodes) if now is not None else None,
        refresh_seconds=None if final else LIVE_REFRESH_SECONDS,
    )


def summarize_report(report: Mapping[str, Any]) -> str:
    """A few human lines: task outcomes, makespans (saying what they cover) and fidelity."""
    fid = report["fidelity"]
    rows = report["tasks"]
    am = report.get("actual_makespan")
    on = fid.get("on_planned_node")
    ratio = fid.get("makespan_ratio")
    counts = outcome_counts(rows)
    _, planned_text = describe_planned_span([r["planned"] for r in rows if r.get("planned")])
    ran = sum(1 for r in rows if r.get("actual"))
    lines = [
        f"tasks: {len(rows)}  rounds: {len(report.get('rounds', []))}  scheduler: {report.get('scheduler')}",
        f"outcomes: {counts['done']} done, {counts['failed']} failed, {counts['dep_failed']} dependency-failed"
        + (f", {counts['not_finished']} not finished" if counts["not_finished"] else ""),
        f"planned makespan: {planned_text}",
        f"actual makespan:  {am:.2f} s = "
        + ACTUAL_MAKESPAN_DEFINITION.format(what=f"{ran} tasks in this report that ran")
        if am is not None
        else "actual makespan: n/a",
        f"on planned node:  {on * 100:.1f}% of {fid['tasks_compared']} "
        f"(off-plan: {len(fid['off_plan_tasks'])})"
        if on is not None
        else "on planned node: n/a",
        f"actual/planned makespan: {ratio:.2f}" if ratio is not None else "actual/planned makespan: n/a",
    ]
    if report.get("replanned_tasks"):
        lines.append(f"re-planned after node loss: {report['replanned_tasks']}")
    for row in rows:
        outcome, err = row_outcome(row), row.get("error")
        if outcome in ("failed", "dep_failed"):
            if isinstance(err, Mapping):
                err = f"{err.get('type')}: {err.get('message')}"
            who = f"{row.get('name')} {row.get('label') or row.get('function')}"
            lines.append(f"{outcome.replace('_', '-')}: {who}: {err}")
    return "\n".join(lines)
