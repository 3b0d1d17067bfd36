"""Gantt charts: self-contained HTML and PNG, with the actual-run overlay; 1,000 tasks render."""

from __future__ import annotations

import math
import random
import re
import time
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import pytest

import saga_graphs as sg

from .conftest import diamond, three_nodes

pytestmark = pytest.mark.timeout(300)


class Run(NamedTuple):
    node: str
    start: float
    end: float


def _big_schedule(n: int = 1000) -> sg.Schedule:
    """1,000 placements on 8 nodes x 4 slots (built directly: this tests drawing, not planning)."""
    r = random.Random(1)
    placements = []
    clock = {(f"node-{k}", s): 0.0 for k in range(8) for s in range(4)}
    for i in range(n):
        lane = min(clock, key=lambda key: (clock[key], key))
        d = r.uniform(0.2, 3.0)
        fam = r.choice(["load", "transform", "fit", "plot"])
        placements.append(sg.Placement(f"{fam}-{i}", lane[0], lane[1], clock[lane], clock[lane] + d))
        clock[lane] += d
    return sg.Schedule.from_placements(placements, "HEFT")


def test_html_is_self_contained_and_has_every_task(tmp_path: Path) -> None:
    s = _big_schedule()
    out = sg.gantt_html(s, tmp_path / "g.html")
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    assert not re.search(r"(src|href)=\"https?://", text)  # no CDN, nothing fetched
    assert "<script" not in text
    assert len(re.findall(r"<title>[^<]*planned", text)) == 1000
    assert "node-7 #3" in text
    assert len(text) < 2_000_000


def test_png_renders_1000_tasks(tmp_path: Path) -> None:
    started = time.monotonic()
    out = sg.gantt_png(_big_schedule(), tmp_path / "g.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width >= 1400 and height >= 600
    assert time.monotonic() - started < 60


def test_actual_overlay(tmp_path: Path) -> None:
    tg, net = diamond(0.0), three_nodes()
    s = sg.plan(tg, net)
    epoch = 1_700_000_000.0
    actual = {t: Run(p.node, epoch + p.start + 0.1, epoch + p.end + 0.3) for t, p in s.placements.items()}
    actual["t4"] = Run("node-c", epoch + 3.0, epoch + 3.9)  # ran elsewhere than planned
    html_text = sg.gantt_html(s, tmp_path / "a.html", actual).read_text()
    assert len(re.findall(r", actual [0-9.]+-[0-9.]+ s</title>", html_text)) == 4
    assert "node-c #0" in html_text
    assert "planned (upper bars) vs actual" in html_text
    png = sg.gantt_png(s, tmp_path / "a.png", {t: r._asdict() for t, r in actual.items()})
    assert png.stat().st_size > 1000


def test_actual_needs_node_start_end(tmp_path: Path) -> None:
    s = sg.plan(diamond(), three_nodes())
    with pytest.raises(sg.errors.SagaGraphsError, match="actual run of task 't1' needs node, start and end"):
        sg.gantt_html(s, tmp_path / "x.html", {"t1": {"node": "node-a"}})


# ---------------------------------------------------------------- charts that explain themselves
def _parsl_like_run() -> tuple[sg.Schedule, dict[str, dict[str, object]], dict[str, Run]]:
    """What saga-dfk gives a chart: task ids (t1..t8) of three functions, caller labels for some, one
    failed task and one whose dependency failed (planned, never ran)."""
    placements = [
        sg.Placement("t1", "node-a", 0, 0.0, 0.9049),
        sg.Placement("t2", "node-a", 1, 0.9049, 1.81),
        sg.Placement("t3", "node-b", 0, 0.9049, 2.715),
        sg.Placement("t4", "node-b", 0, 2.715, 3.3),
        sg.Placement("t5", "node-a", 0, 1.81, 2.2),
        sg.Placement("t6", "node-a", 1, 2.2, 3.1),
        sg.Placement("t7", "node-b", 0, 3.3, 3.9),
        sg.Placement("t8", "node-a", 0, 3.9, 4.2),
    ]
    schedule = sg.Schedule.from_placements(placements, "HEFT")
    fn = {
        "t1": "load",
        "t2": "fit",
        "t3": "fit",
        "t4": "fit",
        "t5": "plot",
        "t6": "fit",
        "t7": "fit",
        "t8": "plot",
    }
    tasks: dict[str, dict[str, object]] = {
        t: {"function": f, "label": f"{f}-call-{t}" if t in ("t2", "t3") else None} for t, f in fn.items()
    }
    tasks["t6"]["status"] = "failed"
    tasks["t6"]["error"] = {"type": "ValueError", "message": "boom in t6"}
    tasks["t8"]["status"] = "dep_failed"
    actual = {
        t: Run(p.node, 1000 + p.start, 1000 + p.end + 0.05)
        for t, p in schedule.placements.items()
        if t != "t8"
    }
    return schedule, tasks, actual


def _svg_root(text: str) -> ET.Element:
    import xml.etree.ElementTree as ET

    start = text.index("<svg")
    end = text.index("</svg>") + len("</svg>")
    return ET.fromstring(text[start:end])


def test_svg_explains_itself(tmp_path: Path) -> None:
    schedule, tasks, actual = _parsl_like_run()
    text = sg.gantt_html(schedule, tmp_path / "g.html", actual, tasks=tasks).read_text()
    root = _svg_root(text)
    ns = "{http://www.w3.org/2000/svg}"
    # responsive: viewBox, width 100%, no fixed pixel width
    assert root.get("width") == "100%"
    assert root.get("viewBox") and len(root.get("viewBox", "").split()) == 4
    bars = [r for r in root.iter(f"{ns}rect") if "bar" in (r.get("class") or "").split()]
    assert len(bars) == 8 + 7  # planned + actual
    # one colour per function (not per task id)
    assert len({b.get("fill") for b in bars}) == 3
    by_fn: dict[str, set[str | None]] = {}
    for b in bars:
        by_fn.setdefault(b.get("data-function") or "", set()).add(b.get("fill"))
    assert set(by_fn) == {"load", "fit", "plot"} and all(len(f) == 1 for f in by_fn.values())
    # legend: one entry per function, plus failed and dependency-failed
    legend = [g for g in root.iter(f"{ns}g") if g.get("class") == "legend-entry"]
    kinds = [g.get("data-kind") for g in legend]
    texts = ["".join(g.itertext()) for g in legend]
    assert kinds.count("function") == 3 and {"load", "fit", "plot"} <= set(texts)
    assert "failed" in kinds and "dep_failed" in kinds
    # the failed task carries the failure marker, on its planned and its actual bar; the others do not
    marks = [r for r in root.iter(f"{ns}rect") if "status-mark" in (r.get("class") or "")]
    failed = [m for m in marks if "failed" in (m.get("class") or "").split()]
    dep = [m for m in marks if "dep_failed" in (m.get("class") or "").split()]
    assert len(failed) == 2 and len(dep) == 1
    assert all(m.get("fill") == "url(#saga-hatch)" and m.get("stroke") for m in marks)
    failed_bar = next(b for b in bars if b.get("data-task") == "t6" and "planned" in (b.get("class") or ""))
    assert "boom in t6" in "".join(failed_bar.itertext()) and "ValueError" in "".join(failed_bar.itertext())
    # labels: the caller's label where given, else the function name; task ids stay in the tooltips
    labels = ["".join(t.itertext()) for t in root.iter(f"{ns}text") if t.get("class") == "bar-label"]
    assert "fit-call-t3" in labels and not any(re.fullmatch(r"t\d+( .*)?", lbl) for lbl in labels)
    assert "(task t3, fit)" in text
    # round ticks: 1/2/5 x 10^k steps, printed without float noise
    tick_texts = ["".join(g.itertext()) for g in root.iter(f"{ns}g") if g.get("class") == "tick"]
    values = [float(t.removesuffix(" s")) for t in tick_texts]
    assert all(re.fullmatch(r"-?\d+(\.\d)? s", t) for t in tick_texts), tick_texts
    steps = {round(b - a, 9) for a, b in pairwise(values)}
    assert len(steps) == 1 and steps.pop() in {0.1, 0.2, 0.5, 1.0, 2.0, 5.0}
    assert values[0] == 0.0 and values[-1] >= 4.2 - 1e-9 - 0.5


def test_nice_ticks_are_round() -> None:
    from saga_graphs._gantt import nice_ticks, tick_label

    for lo, hi in [(0, 9.049), (0, 0.37), (0, 123.4), (0, 1.0), (-0.3, 2.2), (0, 8.32)]:
        ticks = nice_ticks(lo, hi)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert round(mantissa, 6) in {1.0, 2.0, 5.0}, (lo, hi, ticks)
        assert 4 <= len(ticks) <= 12
        assert all("000" not in tick_label(t, step) and "e" not in tick_label(t, step) for t in ticks)
    assert [tick_label(t, 0.5) for t in nice_ticks(0, 3.1)][:3] == ["0.0 s", "0.5 s", "1.0 s"]
    assert [tick_label(t, 2) for t in nice_ticks(0, 13)][:3] == ["0 s", "2 s", "4 s"]


def test_schedule_only_charts_still_colour_by_task_family(tmp_path: Path) -> None:
    """Backwards compatible: without ``tasks`` the family of the task name is the function."""
    text = sg.gantt_html(_big_schedule(200), tmp_path / "b.html").read_text()
    root = _svg_root(text)
    bars = [r for r in root.iter() if "bar" in (r.get("class") or "").split()]
    assert len({b.get("fill") for b in bars}) == 4  # load, transform, fit, plot


def test_png_with_failures_renders(tmp_path: Path) -> None:
    schedule, tasks, actual = _parsl_like_run()
    out = sg.gantt_png(schedule, tmp_path / "f.png", actual, tasks=tasks)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_live_view_now_line_utilisation_refresh_and_atomic_write(tmp_path: Path) -> None:
    s = sg.Schedule.from_placements(
        [sg.Placement("a", "n1", 0, 0.0, 2.0), sg.Placement("b", "n2", 0, 0.0, 4.0)], "HEFT"
    )
    path = tmp_path / "live.html"

    def now_x(now: float, refresh: int | None) -> tuple[float, str]:
        sg.gantt_html(
            s,
            path,
            now=now,
            predicted_finish=5.0,
            utilisation={"n1": 0.5, "n2": 0.25},
            refresh_seconds=refresh,
        )
        text = path.read_text()
        m = re.search(r'<line id="now"[^>]* x1="([0-9.]+)"', text)
        assert m is not None
        return float(m.group(1)), text

    x1, live = now_x(1.0, 2)
    x2, final = now_x(3.0, None)
    assert x2 > x1
    assert "<meta http-equiv='refresh' content='2'>" in live and "http-equiv" not in final
    assert 'id="predicted-finish"' in final and "<tr data-node='n1'><td>n1</td><td>50%</td></tr>" in final
    assert [p.name for p in tmp_path.iterdir()] == ["live.html"], "no temp file left behind"
    # the axis grows to show a "now" beyond the plan
    late, _ = now_x(10.0, 2)
    assert late <= 1400 and "now 10.0 s" in path.read_text()
