"""The task records: a finished task moves to columns and comes back as it was (no pools needed)."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from parsl_affinity_htex import InputFetch, RunRecord
from saga_dfk._records import (
    AssignmentsView,
    Pin,
    PlannedTask,
    RoundLog,
    SampleRing,
    TaskAssignment,
    TaskRecords,
)


def _finished(tid: int, **fields: object) -> PlannedTask:
    task = PlannedTask(tid=tid, name=f"t{tid}", func_name="work", parents=(), record=None)
    task.released = True
    task.assignment = TaskAssignment(tid, "work", "node-a", 1.0 + tid, 2.0 + tid, 3, "HEFT", slot=1)
    task.actual = RunRecord("node-a", "host-1", 1.25 + tid, 2.5 + tid, output_bytes=64)
    task.output_bytes = 64
    task.status = "exec_done"
    for name, value in fields.items():
        setattr(task, name, value)
    return task


def _finish(records: TaskRecords, task: PlannedTask) -> None:
    records.add(
        PlannedTask(tid=task.tid, name=task.name, func_name=task.func_name, parents=task.parents, record=None)
    )
    live = records.open[task.tid]
    for name in PlannedTask.__slots__:
        if name not in ("done", "failure", "status"):
            setattr(live, name, getattr(task, name))
    failure = ValueError(task.failure["message"]) if task.failure else None
    records.finish(live, task.status, failure)


def test_a_finished_task_comes_back_from_the_columns_as_it_was() -> None:
    records = TaskRecords()
    stored = RunRecord(
        "node-b",
        "host-2",
        5.0,
        6.5,
        output_bytes=1 << 20,
        output_store="node-store:node-b@10.0.0.2:6379",
        output_key="k1",
        inputs=(InputFetch("node-store:node-a@10.0.0.1:6379", "k0", 4096, 0.01, False),),
    )
    plain = _finished(0, parents=())
    rich = _finished(
        7,
        parents=(0, 3),
        actual=stored,
        replans=[{"from": "node-c", "to": "node-b", "reason": "node node-c lost", "at": 1.0, "round": 2}],
        label="s0.7",
        pin=Pin("node-b", hard=True),
        dynamic=True,
    )
    failed = _finished(9, status="failed", failure={"type": "ValueError", "message": "boom"}, actual=None)
    for task in (plain, rich, failed):
        _finish(records, task)
    assert not records.open and len(records) == 3 and 7 in records and 8 not in records
    for task in (plain, rich, failed):
        back = records.get(task.tid)
        assert back is not None and back.done and back.record is None
        for name in (
            "tid",
            "name",
            "func_name",
            "parents",
            "assignment",
            "actual",
            "output_bytes",
            "replans",
        ):
            assert getattr(back, name) == getattr(task, name), name
        for name in ("label", "pin", "dynamic", "opted_out", "released", "status"):
            assert getattr(back, name) == getattr(task, name), name
    assert records.get(9).failure == {"type": "ValueError", "message": "boom"}  # type: ignore[union-attr]
    assert records.producer_of("k1") == 7
    view = AssignmentsView(records)
    assert view[7] == rich.assignment and 7 in view and len(view) == 3
    with pytest.raises(KeyError):
        view[8]


def test_changes_to_a_finished_task_are_kept_and_counted() -> None:
    records = TaskRecords()
    for tid in range(3):
        _finish(records, _finished(tid))
    summary = records.finished.summary()
    assert (summary["total"], summary["done"], summary["replanned"]) == (3, 3, 0)
    assert summary["nodes"] == {"node-a": {"done": 3, "failed": 0}}
    assert summary["finish"] == pytest.approx(4.5)
    moved = RunRecord("node-b", "host-2", 9.0, 9.5, output_bytes=64, output_key="again")
    records.set_actual(
        1, moved, {"from": "node-a", "to": "node-b", "reason": "made again", "at": 9, "round": 4}
    )
    assert records.set_label(2, "last")
    assert not records.set_label(99, "unknown")
    assert records.get(1).actual == moved  # type: ignore[union-attr]
    assert records.get(2).label == "last"  # type: ignore[union-attr]
    assert records.producer_of("again") == 1
    summary = records.finished.summary()
    assert summary["replanned"] == 1
    assert summary["nodes"] == {"node-a": {"done": 2, "failed": 0}, "node-b": {"done": 1, "failed": 0}}
    assert summary["finish"] == pytest.approx(9.5)


def test_finished_tasks_cost_about_a_hundred_bytes_each() -> None:
    """As objects they took ~900 bytes each (plus the allocator pages they kept alive); in columns ~100."""
    records = TaskRecords()
    n = 20_000
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for tid in range(n):
            _finish(records, _finished(tid, parents=(tid - 1,) if tid else ()))
        gc.collect()
        per_task = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_task < 200, f"{per_task:.0f} bytes per finished task"
    assert records.get(n - 1).parents == (n - 2,)  # type: ignore[union-attr]


def test_the_round_log_keeps_the_latest_rounds_and_every_node_planned_on() -> None:
    log = RoundLog(maxlen=10)
    for i in range(25):
        log.append(
            {"round": i, "nodes": [f"node-{i % 4}"], "predicted_makespan": i / 3, "portfolio": {"HEFT": 1.0}}
        )
    assert 5 <= len(log) <= 10
    rounds = [r["round"] for r in log]
    assert rounds == list(range(25 - len(log), 25))
    assert log[-1] == {
        "round": 24,
        "nodes": ["node-0"],
        "predicted_makespan": 8.0,
        "portfolio": {"HEFT": 1.0},
    }
    assert [r["round"] for r in log[-3:]] == [22, 23, 24]
    assert log.nodes == {"node-0", "node-1", "node-2", "node-3"}
    with pytest.raises(IndexError):
        log[len(log)]


def test_the_sample_ring_keeps_the_latest_observations_oldest_first() -> None:
    ring = SampleRing(capacity=4)
    assert ring.items() == []
    for i in range(6):
        ring.append(f"node-{i % 2}", "work", float(i))
    assert len(ring) == 4
    assert ring.items() == [
        ("node-0", "work", 2.0),
        ("node-1", "work", 3.0),
        ("node-0", "work", 4.0),
        ("node-1", "work", 5.0),
    ]
