"""TaskRun (the shape of "a task ran on node from start to end") and span(), the one makespan-as-span."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import saga_graphs as sg


class Run(NamedTuple):
    node: str
    start: float
    end: float


@dataclass(frozen=True)
class Record:  # the shape of parsl_affinity_htex.RunRecord (saga_graphs may not import it)
    node: str
    hostname: str
    start: float
    end: float


def test_span_is_latest_end_minus_earliest_start() -> None:
    runs = [Run("a", 10.0, 12.0), Run("b", 11.0, 15.5), Run("a", 12.0, 13.0)]
    assert sg.span(runs) == 5.5
    assert sg.span(iter(runs)) == 5.5  # any iterable, read once
    assert sg.span([]) is None
    assert sg.span([Run("a", 3.0, 3.0)]) == 0.0


def test_every_run_shape_is_a_task_run() -> None:
    placement = sg.Placement("t1", "node-a", 1, 0.5, 2.0)
    record = Record("node-a", "host", 1_700_000_000.0, 1_700_000_002.0)
    for run in (placement, record, Run("a", 0.0, 1.0)):
        assert isinstance(run, sg.TaskRun)
    assert not isinstance({"node": "a", "start": 0.0, "end": 1.0}, sg.TaskRun)
    # mixed shapes on one clock: the planned placements of a schedule and records
    assert math.isclose(sg.span([placement, Record("b", "h", 0.0, 3.0)]) or 0.0, 3.0)


def test_span_of_a_schedule_is_its_makespan_when_it_starts_at_zero() -> None:
    s = sg.Schedule.from_placements(
        [sg.Placement("a", "n", 0, 0.0, 1.0), sg.Placement("b", "n", 0, 1.0, 4.0)], "HEFT"
    )
    assert sg.span(s.placements.values()) == s.makespan == 4.0


@dataclass(frozen=True)
class SlottedRecord:
    node: str
    start: float
    end: float
    slot: int


def test_gantt_draws_any_task_run_in_its_lane(tmp_path: Path) -> None:
    """Charts take TaskRuns: a RunRecord-shaped record is drawn in its planned slot, one with a
    ``slot`` attribute in that slot; the axis spans plan and runs."""
    s = sg.Schedule.from_placements(
        [sg.Placement("a", "n1", 0, 0.0, 1.0), sg.Placement("b", "n1", 1, 0.0, 2.0)], "HEFT"
    )
    epoch = 1_700_000_000.0
    actual: dict[str, sg.TaskRun] = {
        "a": Record("n1", "h", epoch, epoch + 1.5),
        "b": SlottedRecord("n2", epoch + 0.5, epoch + 4.0, 3),
    }
    text = sg.gantt_html(s, tmp_path / "g.html", actual).read_text()
    assert "n2 #3" in text and "n1 #1" in text  # b's own slot on n2; the planned lanes
    assert text.count(", actual ") == 2
    assert re.search(
        r">4(\.0)? s</text>", text
    )  # the axis reaches the latest actual end (aligned: 4.0 s after the plan's 0)
