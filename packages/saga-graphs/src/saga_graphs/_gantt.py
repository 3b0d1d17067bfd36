"""Gantt charts of a schedule, optionally with the actual runs overlaid, as HTML (inline SVG) or PNG.

One lane per (node, slot). What a reader needs to see:

* **Colour = function.** Bars are coloured by the task's function (``tasks[name]["function"]``, or a
  ``function`` attribute/key of the actual run; without either, the task name without its trailing
  number), so 56 calls of one function are one colour, and the legend has one entry per function.
* **Label = the caller's name.** A bar is labelled with ``tasks[name]["label"]`` when the caller gave
  one, else with its function name; the task id is in the hover tooltip (HTML) -- labels are drawn only
  where they fit, so 1,000 tasks stay readable.
* **Failures are marked.** ``tasks[name]["status"]`` ``"failed"`` (the task raised) is drawn hatched
  with a red outline, ``"dep_failed"`` (never ran: a dependency failed) hatched with a dashed red
  outline; both have legend entries, and the tooltip shows the error.
* **Round ticks.** The time axis uses 1/2/5 x 10^k steps, printed without noise (``0.5 s``, ``2 s``).
* **Responsive.** The SVG has a ``viewBox`` and ``width="100%"``: it scales with the window.

The HTML is self-contained (no CDN, no script); the PNG uses matplotlib's Agg canvas directly (no
pyplot, so the caller's backend is untouched).
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import os
import re
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saga_graphs._log import kv
from saga_graphs._runs import TaskRun, _bounds, span
from saga_graphs._schedule import Placement, Schedule
from saga_graphs.errors import SagaGraphsError

__all__ = ["gantt_html", "gantt_png"]

log = logging.getLogger(__name__)

_PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e15759",
)  # fmt: skip
#: outline of failed / dependency-failed bars (no palette entry is this red)
FAILED_COLOR = "#d62728"
#: task statuses that get a failure marker
FAILED, DEP_FAILED = "failed", "dep_failed"
_STATUS_TEXT = {FAILED: "failed (raised)", DEP_FAILED: "dependency failed (never ran)"}
_LEGEND_MAX = 16


def _family(task: str) -> str:
    return re.sub(r"[-_:#.]?\d+$", "", task) or task


@dataclass(frozen=True)
class _Info:
    """What the chart shows of one task besides its times: function (colour), label, status, error."""

    function: str
    label: str
    status: str | None
    error: str | None


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _task_info(
    names: list[str],
    tasks: Mapping[str, Any] | None,
    actual: Mapping[str, Any] | None,
) -> dict[str, _Info]:
    """Per task: from ``tasks[name]`` (mapping or object), else from the actual run's optional fields."""
    out: dict[str, _Info] = {}
    for name in names:
        sources = [s for s in ((tasks or {}).get(name), (actual or {}).get(name)) if s is not None]

        def pick(key: str, sources: list[Any] = sources) -> Any:
            for s in sources:
                value = _get(s, key)
                if value not in (None, ""):
                    return value
            return None

        function = str(pick("function") or _family(name))
        label = pick("label")
        status = pick("status")
        error = pick("error")
        if isinstance(error, Mapping):
            error = f"{error.get('type', 'Error')}: {error.get('message', '')}"
        out[name] = _Info(
            function=function,
            label=str(label) if label else function,
            status=str(status) if status else None,
            error=str(error) if error else None,
        )
    return out


class _Colors:
    """Function -> colour: distinct palette entries for up to 16 functions (in name order), so the
    same schedule always gets the same colours; more functions wrap around by hash."""

    def __init__(self, functions: list[str]) -> None:
        self.by_function = {f: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(sorted(set(functions)))}

    def __call__(self, function: str) -> str:
        return self.by_function.get(function) or _PALETTE[zlib.crc32(function.encode()) % len(_PALETTE)]


def nice_ticks(lo: float, hi: float, target: int = 10) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k, about ``target`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [_clean(k * step, step) for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def _clean(value: float, step: float) -> float:
    return round(value, _decimals(step) + 1) + 0.0  # + 0.0: no "-0"


def tick_label(value: float, step: float) -> str:
    """``0.5 s``, ``2 s``, ``1.25 s``: as many decimals as the step needs, no float noise."""
    return f"{value:.{_decimals(step)}f} s"


def _step(ticks: list[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1.0


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj[name]
    return getattr(obj, name)


def _actual_runs(
    schedule: Schedule, actual: Mapping[str, TaskRun | Mapping[str, Any]] | None, offset: float | None
) -> list[Placement]:
    """Actual runs placed on the chart's lanes and time axis (as Placements: task, node, slot, start, end).

    Actual times are usually wall-clock epoch seconds while plans start at 0: without an explicit
    ``offset`` the earliest actual start is aligned with the earliest planned start.
    """
    if not actual:
        return []
    runs: list[tuple[str, str, int | None, float, float]] = []
    for task, run in actual.items():
        try:
            node, start, end = (
                str(_field(run, "node")),
                float(_field(run, "start")),
                float(_field(run, "end")),
            )
        except (KeyError, AttributeError, TypeError, ValueError) as e:
            raise SagaGraphsError(
                f"actual run of task {task!r} needs node, start and end; got {run!r}"
            ) from e
        slot: int | None
        try:
            slot = int(_field(run, "slot"))
        except (KeyError, AttributeError, TypeError, ValueError):
            slot = None
        runs.append((str(task), node, slot, start, end))
    if offset is None:
        plan_bounds = _bounds(schedule.placements.values())
        run_bounds = _bounds(Placement(task, node, 0, start, end) for task, node, _, start, end in runs)
        assert run_bounds is not None  # runs is not empty
        offset = (plan_bounds[0] if plan_bounds is not None else 0.0) - run_bounds[0]
    out = []
    for task, node, slot, start, end in runs:
        planned = schedule.placements.get(task)
        if slot is None:
            slot = planned.slot if planned is not None and planned.node == node else 0
        out.append(Placement(task, node, slot, start + offset, end + offset))
    return out


def _axis(schedule: Schedule, runs: list[Placement]) -> tuple[float, float]:
    """The time axis: from 0 (or the earliest bar, if earlier) to the latest end of any bar."""
    bounds = _bounds([*schedule.placements.values(), *runs])
    if bounds is None:
        return 0.0, 0.0
    return min(0.0, bounds[0]), bounds[1]


def _lanes(schedule: Schedule, actual: list[Placement]) -> list[tuple[str, int]]:
    lanes = {(p.node, p.slot) for p in schedule.placements.values()}
    lanes |= {(r.node, r.slot) for r in actual}
    return sorted(lanes)


def _functions_in_order(info: Mapping[str, _Info]) -> list[str]:
    return sorted({i.function for i in info.values()})


def _status_counts(info: Mapping[str, _Info]) -> dict[str, int]:
    counts = {FAILED: 0, DEP_FAILED: 0}
    for i in info.values():
        if i.status in counts:
            counts[i.status] += 1
    return counts


def _tip(name: str, i: _Info, what: str) -> str:
    head = (
        f"{i.label} (task {name}, {i.function})" if i.label != i.function else f"{i.function} (task {name})"
    )
    tail = f"; {_STATUS_TEXT[i.status]}" if i.status in _STATUS_TEXT else ""
    if i.error:
        tail += f": {i.error}"
    return f"{head}: {what}{tail}"


def gantt_html(
    schedule: Schedule,
    path: str | os.PathLike[str],
    actual: Mapping[str, TaskRun | Mapping[str, Any]] | None = None,
    *,
    title: str | None = None,
    actual_offset: float | None = None,
    tasks: Mapping[str, Any] | None = None,
    now: float | None = None,
    predicted_finish: float | None = None,
    utilisation: Mapping[str, float] | None = None,
    refresh_seconds: int | None = None,
) -> Path:
    """Write a self-contained HTML Gantt chart (inline SVG) to ``path``; returns the path.

    Live view of a running workflow (all optional): ``now`` draws a vertical line ``<line id="now">`` at
    that time; ``predicted_finish`` a dashed line ``<line id="predicted-finish">``; ``utilisation`` (node
    -> busy fraction 0..1) a table ``<table id="utilisation">``; ``refresh_seconds`` adds
    ``<meta http-equiv="refresh">`` so a browser reloads the page. The file is replaced atomically (temp
    file in the same folder + ``os.replace``), so a reloading browser never reads half a page.

    ``actual`` maps task -> its run: a :class:`~saga_graphs.TaskRun` (e.g. parsl_affinity_htex's
    ``RunRecord``; an optional ``slot`` attribute picks the lane) or a dict with those keys (a run read
    back from JSON). Drawn as outlined bars in the lower half of the lane, planned bars in the upper half.

    ``tasks`` (optional) maps task -> what to show besides times, a dict or object with any of
    ``function`` (colour and legend), ``label`` (the caller's name for the task; bar text), ``status``
    (``"failed"`` / ``"dep_failed"`` get a failure marker) and ``error`` (tooltip; a string or a
    ``{"type", "message"}`` dict). The same keys are also read from the ``actual`` runs.
    """
    runs = _actual_runs(schedule, actual, actual_offset)
    lanes = _lanes(schedule, runs)
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    info = _task_info(sorted({*schedule.placements, *(r.task for r in runs)}), tasks, actual)
    functions = _functions_in_order(info)
    color = _Colors(functions)
    counts = _status_counts(info)
    t_start, t_end = _axis(schedule, runs)
    t_end = max([t_end, *(t for t in (now, predicted_finish) if t is not None and math.isfinite(t))])
    span_ = (t_end - t_start) or 1.0
    ticks = nice_ticks(t_start, t_start + span_)
    step = _step(ticks)
    t_end_axis = max(t_start + span_, ticks[-1])
    span_ = t_end_axis - t_start

    # legend: one entry per function (first 16), then the failure markers that occur, then planned/actual
    entries: list[tuple[str, str, str]] = [("function", color(f), f) for f in functions[:_LEGEND_MAX]]
    if len(functions) > _LEGEND_MAX:
        entries.append(("more", "#ffffff", f"+{len(functions) - _LEGEND_MAX} more functions"))
    for status in (FAILED, DEP_FAILED):
        if counts[status]:
            entries.append((status, "url(#saga-hatch)", f"{_STATUS_TEXT[status]} ({counts[status]})"))
    if runs:
        entries += [
            ("planned", "#999999", "planned (upper bar)"),
            ("actual", "#cccccc", "actual (lower, outlined)"),
        ]
    width, left, right = 1400, 150, 20
    legend_rows: list[list[tuple[str, str, str, float]]] = [[]]
    cursor: float = left
    for kind, fill, text in entries:
        w = 14 + 6.6 * len(text) + 18
        if cursor + w > width - right and legend_rows[-1]:
            legend_rows.append([])
            cursor = float(left)
        legend_rows[-1].append((kind, fill, text, cursor))
        cursor += w
    top = 14 + 18 * len(legend_rows) + 8
    lane_h: float = 26 if len(lanes) <= 40 else max(8, 1040 // max(1, len(lanes)))
    plot_h = lane_h * max(1, len(lanes))
    height = top + plot_h + 34
    plot_w = width - left - right

    def x(t: float) -> float:
        return left + (t - t_start) / span_ * plot_w

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height:.0f}" '
        'preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11" '
        'style="max-width:100%;height:auto;display:block">',
        "<defs>"
        '<pattern id="saga-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#ffffff" fill-opacity="0.35"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{FAILED_COLOR}" stroke-width="2.2"/></pattern>'
        "</defs>",
    ]
    for r_i, row in enumerate(legend_rows):
        ly = 14 + 18 * r_i
        for kind, fill, text, lx in row:
            stroke = FAILED_COLOR if kind in (FAILED, DEP_FAILED) else "#333"
            dash = ' stroke-dasharray="3,2"' if kind == DEP_FAILED else ""
            swatch = (
                f'<rect x="{lx:.1f}" y="{ly - 9}" width="12" height="12" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="{1.5 if stroke == FAILED_COLOR else 0.5}"{dash}/>'
                if kind != "more"
                else ""
            )
            parts.append(
                f'<g class="legend-entry" data-kind="{kind}">{swatch}'
                f'<text x="{lx + 17:.1f}" y="{ly + 1}">{html.escape(text)}</text></g>'
            )
    for i, (node, slot) in enumerate(lanes):
        y = top + i * lane_h
        fill = "#f5f5f5" if i % 2 == 0 else "#ffffff"
        parts.append(
            f'<rect class="lane" x="{left}" y="{y}" width="{plot_w}" height="{lane_h}" fill="{fill}"/>'
        )
        if lane_h >= 9:
            parts.append(
                f'<text x="{left - 6}" y="{y + lane_h / 2 + 4:.1f}" text-anchor="end">'
                f"{html.escape(node)} #{slot}</text>"
            )
    for t in ticks:
        parts.append(
            f'<g class="tick"><line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{top + plot_h}" stroke="#ddd"/>'
            f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{tick_label(t, step)}</text></g>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 31}" text-anchor="middle" fill="#555">'
        "time on the plan clock (s)</text>"
    )

    def marker(i: _Info, bx: float, by: float, bw: float, bh: float) -> str:
        if i.status not in (FAILED, DEP_FAILED):
            return ""
        dash = ' stroke-dasharray="3,2"' if i.status == DEP_FAILED else ""
        return (
            f'<rect class="status-mark {i.status}" x="{bx:.2f}" y="{by:.2f}" width="{bw:.2f}" height="{bh:.2f}" '
            f'fill="url(#saga-hatch)" stroke="{FAILED_COLOR}" stroke-width="1.5"{dash} pointer-events="none"/>'
        )

    bar_h = lane_h * (0.5 if runs else 0.8)
    for p in schedule.placements.values():
        ti = info[p.task]
        row_i = lane_index[(p.node, p.slot)]
        by = top + row_i * lane_h + lane_h * 0.1
        w = max(0.5, x(p.end) - x(p.start))
        tip = html.escape(_tip(p.task, ti, f"{p.node} slot {p.slot}, planned {p.start:.6g}-{p.end:.6g} s"))
        parts.append(
            f'<rect class="bar planned" data-task="{html.escape(p.task)}" data-function="{html.escape(ti.function)}" '
            f'x="{x(p.start):.2f}" y="{by:.2f}" width="{w:.2f}" height="{bar_h:.2f}" '
            f'fill="{color(ti.function)}" stroke="#ffffff" stroke-width="1"><title>{tip}</title></rect>'
            + marker(ti, x(p.start), by, w, bar_h)
        )
        if w > 6.6 * len(ti.label) + 6 and bar_h >= 10:
            parts.append(
                f'<text class="bar-label" x="{x(p.start) + 3:.2f}" y="{by + bar_h / 2 + 4:.2f}" fill="#fff" '
                f'pointer-events="none">{html.escape(ti.label)}</text>'
            )
    for r in runs:
        ti = info[r.task]
        row_i = lane_index[(r.node, r.slot)]
        by = top + row_i * lane_h + lane_h * 0.55
        w = max(0.5, x(r.end) - x(r.start))
        tip = html.escape(_tip(r.task, ti, f"{r.node}, actual {r.start:.6g}-{r.end:.6g} s"))
        parts.append(
            f'<rect class="bar actual" data-task="{html.escape(r.task)}" data-function="{html.escape(ti.function)}" '
            f'x="{x(r.start):.2f}" y="{by:.2f}" width="{w:.2f}" height="{lane_h * 0.35:.2f}" '
            f'fill="{color(ti.function)}" fill-opacity="0.45" stroke="#000" stroke-width="0.8">'
            f"<title>{tip}</title></rect>" + marker(ti, x(r.start), by, w, lane_h * 0.35)
        )
    for line_id, at, stroke, dash, text in (
        ("predicted-finish", predicted_finish, "#555555", "6,4", "predicted finish"),
        ("now", now, FAILED_COLOR, "", "now"),
    ):
        if at is None or not math.isfinite(at):
            continue
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line id="{line_id}" class="{line_id}" data-time="{at:.3f}" x1="{x(at):.2f}" y1="{top}" '
            f'x2="{x(at):.2f}" y2="{top + plot_h}" stroke="{stroke}" stroke-width="2"{dash_attr}/>'
            f'<text class="{line_id}-label" x="{x(at) + 3:.2f}" y="{top + 11}" fill="{stroke}">'
            f"{text} {at:.1f} s</text>"
        )
    parts.append("</svg>")
    heading = title or f"Schedule by {schedule.scheduler or 'unknown'}"
    overlay = "planned (upper bars) vs actual (lower, outlined)" if runs else "planned"
    planned_span = span(schedule.placements.values())
    failures = ", ".join(f"{n} {_STATUS_TEXT[s]}" for s, n in counts.items() if n)
    live: list[str] = []
    if now is not None:
        live.append(f"now {now:.1f} s")
    if predicted_finish is not None:
        live.append(f"predicted finish {predicted_finish:.1f} s")
    live_html = f"<p class='live' id='live-status'>{html.escape('; '.join(live))}</p>" if live else ""
    if utilisation:
        live_html += (
            "<table id='utilisation' class='meta'><tr><th>node</th><th>busy</th></tr>"
            + "".join(
                f"<tr data-node='{html.escape(n)}'><td>{html.escape(n)}</td><td>{u * 100:.0f}%</td></tr>"
                for n, u in sorted(utilisation.items())
            )
            + "</table>"
        )
    refresh = (
        f"<meta http-equiv='refresh' content='{int(refresh_seconds)}'>" if refresh_seconds is not None else ""
    )
    doc = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        + refresh
        + "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(heading)}</title>"
        "<style>body{font-family:sans-serif;margin:16px} .meta{color:#555}</style></head><body>"
        f"<h2>{html.escape(heading)}</h2>"
        f"<p class='meta'>{len(info)} tasks of {len(functions)} function(s) on "
        f"{len({n for n, _ in lanes})} nodes / {len(lanes)} slots; "
        + (
            f"planned span {planned_span:.3g} s (first planned start to last planned end); "
            if planned_span is not None
            else ""
        )
        + f"{overlay}{'; ' + failures if failures else ''}. Colour: function; label: task name "
        "(hover a bar for task id, times and error).</p>\n"
        + live_html
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    log.info(
        "gantt.html_written %s", kv(path=str(out), tasks=len(schedule), lanes=len(lanes), actual=len(runs))
    )
    return out


def gantt_png(
    schedule: Schedule,
    path: str | os.PathLike[str],
    actual: Mapping[str, TaskRun | Mapping[str, Any]] | None = None,
    *,
    title: str | None = None,
    actual_offset: float | None = None,
    dpi: int = 110,
    tasks: Mapping[str, Any] | None = None,
) -> Path:
    """Write a PNG Gantt chart to ``path`` (same layout, colours, labels, failure markers, round ticks
    and ``actual``/``tasks`` arguments as :func:`gantt_html`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    runs = _actual_runs(schedule, actual, actual_offset)
    lanes = _lanes(schedule, runs)
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    info = _task_info(sorted({*schedule.placements, *(r.task for r in runs)}), tasks, actual)
    functions = _functions_in_order(info)
    color = _Colors(functions)
    counts = _status_counts(info)
    height_in = min(40.0, max(3.0, 0.32 * len(lanes) + 1.5))
    fig = Figure(figsize=(14, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    t_start, t_end = _axis(schedule, runs)
    span_ = (t_end - t_start) or 1.0
    ticks = nice_ticks(t_start, t_start + span_)
    step = _step(ticks)
    min_label_width = span_ / 14 / 9  # roughly one character at this width
    planned_h = 0.4 if runs else 0.8
    by_color: dict[tuple[str, int], list[tuple[float, float]]] = {}
    marks: dict[tuple[str, float, float], list[tuple[float, float]]] = {}
    for p in schedule.placements.values():
        i, lane = info[p.task], lane_index[(p.node, p.slot)]
        by_color.setdefault((color(i.function), lane), []).append((p.start, p.duration))
        if i.status in (FAILED, DEP_FAILED):
            marks.setdefault((i.status, lane - 0.4, planned_h), []).append((p.start, p.duration))
    for (c, lane), bars in by_color.items():
        ax.broken_barh(bars, (lane - 0.4, planned_h), facecolors=c, edgecolors="white", linewidth=0.8)
    if len(schedule) <= 300:
        for p in schedule.placements.values():
            label = info[p.task].label
            if p.duration > min_label_width * (len(label) + 1):
                lane = lane_index[(p.node, p.slot)]
                ax.text(
                    p.start + span_ * 0.002,
                    lane - 0.4 + planned_h / 2,
                    label,
                    va="center",
                    fontsize=7,
                    color="white",
                )
    for r in runs:
        i, lane = info[r.task], lane_index[(r.node, r.slot)]
        ax.broken_barh(
            [(r.start, r.end - r.start)], (lane + 0.02, 0.36),
            facecolors=color(i.function), alpha=0.45, edgecolors="black", linewidth=0.6,
        )  # fmt: skip
        if i.status in (FAILED, DEP_FAILED):
            marks.setdefault((i.status, lane + 0.02, 0.36), []).append((r.start, r.end - r.start))
    for (status, y0, h), bars in marks.items():
        ax.broken_barh(
            bars, (y0, h), facecolors="none", edgecolors=FAILED_COLOR, hatch="////", linewidth=1.4,
            linestyle="--" if status == DEP_FAILED else "-",
        )  # fmt: skip
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{n} #{s}" for n, s in lanes], fontsize=max(4, min(9, 400 // max(1, len(lanes)))))
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xticks(ticks)
    ax.set_xticklabels([tick_label(t, step) for t in ticks])
    ax.set_xlim(t_start, max(t_start + span_ * 1.01, ticks[-1]))
    ax.set_xlabel("time on the plan clock (s)")
    ax.grid(axis="x", color="#ddd", linewidth=0.5)
    planned_span = span(schedule.placements.values())
    failures = ", ".join(f"{n} {s.replace('_', '-')}" for s, n in counts.items() if n)
    ax.set_title(
        (title or f"Schedule by {schedule.scheduler or 'unknown'}")
        + f" - {len(info)} tasks of {len(functions)} function(s)"
        + (f", planned span {planned_span:.3g} s" if planned_span is not None else "")
        + (f", {failures}" if failures else "")
    )
    handles = [Patch(facecolor=color(f), edgecolor="#333", label=f) for f in functions[:_LEGEND_MAX]]
    if len(functions) > _LEGEND_MAX:
        handles.append(
            Patch(facecolor="white", edgecolor="white", label=f"+{len(functions) - _LEGEND_MAX} more")
        )
    for status in (FAILED, DEP_FAILED):
        if counts[status]:
            handles.append(
                Patch(
                    facecolor="white",
                    edgecolor=FAILED_COLOR,
                    hatch="////",
                    linewidth=1.4,
                    linestyle="--" if status == DEP_FAILED else "-",
                    label=f"{_STATUS_TEXT[status]} ({counts[status]})",
                )  # fmt: skip
            )
    if runs:
        handles += [
            Patch(facecolor="#999", label="planned (upper)"),
            Patch(facecolor="#ccc", edgecolor="black", label="actual (lower)"),
        ]
    # Outside the plot, so it never hides bars.
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png")
    log.info(
        "gantt.png_written %s", kv(path=str(out), tasks=len(schedule), lanes=len(lanes), actual=len(runs))
    )
    return out
