"""Gantt charts: self-contained HTML and PNG, with the actual-run overlay; 1,000 tasks render."""

from __future__ import annotations

import random
import re
import time
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
    with pytest.raises(sg.SagaGraphsError, match="actual run of task 't1' needs node, start and end"):
        sg.gantt_html(s, tmp_path / "x.html", {"t1": {"node": "node-a"}})
