"""Gantt charts of a schedule, optionally with the actual runs overlaid, as HTML (inline SVG) or PNG.

One lane per (node, slot). Bars are coloured by task family (the task name without its trailing
number), so 1,000 tasks stay readable: labels are drawn only where they fit, and every bar has a
hover tooltip in the HTML. The HTML is self-contained (no CDN, no script); the PNG uses matplotlib's
Agg canvas directly (no pyplot, so the caller's backend is untouched).
"""

from __future__ import annotations

import html
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from saga_graphs._errors import SagaGraphsError
from saga_graphs._schedule import Schedule

__all__ = ["gantt_html", "gantt_png"]

log = structlog.get_logger(__name__)

_PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22",
)  # fmt: skip


@dataclass(frozen=True)
class _Run:
    task: str
    node: str
    slot: int
    start: float
    end: float


def _family(task: str) -> str:
    return re.sub(r"[-_:#.]?\d+$", "", task) or task


class _Colors:
    """Family -> colour: distinct palette entries for up to 16 families (in name order), so the
    same schedule always gets the same colours; more families wrap around by hash."""

    def __init__(self, tasks: list[str]) -> None:
        families = sorted({_family(t) for t in tasks})
        self.by_family = {f: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(families)}

    def __call__(self, task: str) -> str:
        fam = _family(task)
        return self.by_family.get(fam) or _PALETTE[zlib.crc32(fam.encode()) % len(_PALETTE)]


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj[name]
    return getattr(obj, name)


def _actual_runs(schedule: Schedule, actual: Mapping[str, Any] | None, offset: float | None) -> list[_Run]:
    """Actual runs on the chart's time axis.

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
        planned0 = min((p.start for p in schedule.placements.values()), default=0.0)
        offset = planned0 - min(r[3] for r in runs)
    out = []
    for task, node, slot, start, end in runs:
        planned = schedule.placements.get(task)
        if slot is None:
            slot = planned.slot if planned is not None and planned.node == node else 0
        out.append(_Run(task, node, slot, start + offset, end + offset))
    return out


def _lanes(schedule: Schedule, actual: list[_Run]) -> list[tuple[str, int]]:
    lanes = {(p.node, p.slot) for p in schedule.placements.values()}
    lanes |= {(r.node, r.slot) for r in actual}
    return sorted(lanes)


def gantt_html(
    schedule: Schedule,
    path: str | os.PathLike[str],
    actual: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    actual_offset: float | None = None,
) -> Path:
    """Write a self-contained HTML Gantt chart (inline SVG) to ``path``; returns the path.

    ``actual`` maps task -> an object or dict with ``node``, ``start``, ``end`` (optionally ``slot``):
    drawn as dark outlined bars in the lower half of the lane, planned bars in the upper half.
    """
    runs = _actual_runs(schedule, actual, actual_offset)
    lanes = _lanes(schedule, runs)
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    _color = _Colors(list(schedule.placements))
    t_end = max([schedule.makespan, *(r.end for r in runs)])
    t_start = min([0.0, *(p.start for p in schedule.placements.values()), *(r.start for r in runs)])
    span = (t_end - t_start) or 1.0
    width, left, top = 1400, 150, 40
    lane_h: float = 26 if len(lanes) <= 40 else max(8, 1040 // max(1, len(lanes)))
    height = top + lane_h * max(1, len(lanes)) + 30
    plot_w = width - left - 20

    def x(t: float) -> float:
        return left + (t - t_start) / span * plot_w

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
    ]
    for i, (node, slot) in enumerate(lanes):
        y = top + i * lane_h
        fill = "#f5f5f5" if i % 2 == 0 else "#ffffff"
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{lane_h}" fill="{fill}"/>')
        if lane_h >= 9:
            parts.append(
                f'<text x="{left - 6}" y="{y + lane_h / 2 + 4:.1f}" text-anchor="end">'
                f"{html.escape(node)} #{slot}</text>"
            )
    ticks = 10
    for k in range(ticks + 1):
        t = t_start + span * k / ticks
        parts.append(
            f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{height - 30}" stroke="#ddd"/>'
            f'<text x="{x(t):.1f}" y="{height - 14}" text-anchor="middle">{t:.4g}s</text>'
        )
    bar_h = lane_h * (0.5 if runs else 0.8)
    for p in schedule.placements.values():
        i = lane_index[(p.node, p.slot)]
        y = top + i * lane_h + lane_h * 0.1
        w = max(0.5, x(p.end) - x(p.start))
        tip = html.escape(f"{p.task}: {p.node} slot {p.slot}, planned {p.start:.6g}-{p.end:.6g} s")
        parts.append(
            f'<rect x="{x(p.start):.2f}" y="{y:.2f}" width="{w:.2f}" height="{bar_h:.2f}" '
            f'fill="{_color(p.task)}" stroke="#333" stroke-width="0.3"><title>{tip}</title></rect>'
        )
        if w > 7 * len(p.task) and bar_h >= 10:
            parts.append(
                f'<text x="{x(p.start) + 3:.2f}" y="{y + bar_h / 2 + 4:.2f}" fill="#fff">{html.escape(p.task)}</text>'
            )
    for r in runs:
        i = lane_index[(r.node, r.slot)]
        y = top + i * lane_h + lane_h * 0.55
        w = max(0.5, x(r.end) - x(r.start))
        tip = html.escape(f"{r.task}: {r.node}, actual {r.start:.6g}-{r.end:.6g} s")
        parts.append(
            f'<rect x="{x(r.start):.2f}" y="{y:.2f}" width="{w:.2f}" height="{lane_h * 0.35:.2f}" '
            f'fill="{_color(r.task)}" fill-opacity="0.45" stroke="#000" stroke-width="0.8">'
            f"<title>{tip}</title></rect>"
        )
    parts.append("</svg>")
    heading = title or f"Schedule by {schedule.scheduler or 'unknown'}"
    legend = "planned (upper bars) vs actual (lower, outlined)" if runs else "planned"
    families = list(_color.by_family.items())[:16]
    swatches = " ".join(
        f"<span style='display:inline-block;width:10px;height:10px;background:{c}'></span> {html.escape(f)}"
        for f, c in families
    )
    doc = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(heading)}</title>"
        "<style>body{font-family:sans-serif;margin:16px} .meta{color:#555}</style></head><body>"
        f"<h2>{html.escape(heading)}</h2>"
        f"<p class='meta'>{len(schedule)} tasks on {len({n for n, _ in lanes})} nodes / {len(lanes)} slots; "
        f"planned makespan {schedule.makespan:.6g} s; {legend}</p><p class='meta'>{swatches}</p>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    out = Path(path)
    out.write_text(doc, encoding="utf-8")
    log.info("gantt.html_written", path=str(out), tasks=len(schedule), lanes=len(lanes), actual=len(runs))
    return out


def gantt_png(
    schedule: Schedule,
    path: str | os.PathLike[str],
    actual: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    actual_offset: float | None = None,
    dpi: int = 110,
) -> Path:
    """Write a PNG Gantt chart to ``path`` (same layout and ``actual`` overlay as :func:`gantt_html`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    runs = _actual_runs(schedule, actual, actual_offset)
    lanes = _lanes(schedule, runs)
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    _color = _Colors(list(schedule.placements))
    height_in = min(40.0, max(3.0, 0.32 * len(lanes) + 1.5))
    fig = Figure(figsize=(14, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    t_end = max([schedule.makespan, *(r.end for r in runs)])
    t_start = min([0.0, *(p.start for p in schedule.placements.values()), *(r.start for r in runs)])
    span = (t_end - t_start) or 1.0
    min_label_width = span / 14 / 8  # roughly one character at this width
    planned_h = 0.4 if runs else 0.8
    by_color: dict[str, list[tuple[float, float, float]]] = {}
    for p in schedule.placements.values():
        i = lane_index[(p.node, p.slot)]
        by_color.setdefault(_color(p.task), []).append((p.start, p.duration, i))
    for color, bars in by_color.items():
        for lane in sorted({b[2] for b in bars}):
            ax.broken_barh(
                [(s, d) for s, d, li in bars if li == lane],
                (lane - 0.4, planned_h),
                facecolors=color,
                edgecolors="#333",
                linewidth=0.2,
            )
    if len(schedule) <= 300:
        for p in schedule.placements.values():
            if p.duration > min_label_width * len(p.task):
                i = lane_index[(p.node, p.slot)]
                ax.text(
                    p.start + span * 0.002,
                    i - 0.4 + planned_h / 2,
                    p.task,
                    va="center",
                    fontsize=7,
                    color="white",
                )
    for r in runs:
        i = lane_index[(r.node, r.slot)]
        ax.broken_barh(
            [(r.start, r.end - r.start)],
            (i + 0.02, 0.36),
            facecolors=_color(r.task),
            alpha=0.45,
            edgecolors="black",
            linewidth=0.6,
        )
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{n} #{s}" for n, s in lanes], fontsize=max(4, min(9, 400 // max(1, len(lanes)))))
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(t_start, t_start + span * 1.01)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", color="#ddd", linewidth=0.5)
    ax.set_title(
        (title or f"Schedule by {schedule.scheduler or 'unknown'}")
        + f" - {len(schedule)} tasks, makespan {schedule.makespan:.4g} s"
    )
    handles = [Patch(facecolor=c, label=f) for f, c in list(_color.by_family.items())[:16]]
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
    log.info("gantt.png_written", path=str(out), tasks=len(schedule), lanes=len(lanes), actual=len(runs))
    return out
