"""Rolling planning: fixed placements, per-node availability and min_start_time (used by saga_dfk)."""

from __future__ import annotations

import pytest

import saga_graphs as sg

from .conftest import diamond, random_problem, three_nodes

pytestmark = pytest.mark.timeout(300)

ROLLING = ["HEFT", "CPOP", "FastestNode", "MCT", "MET", "MST", "OLB", "DPS"]


@pytest.mark.parametrize("scheduler", ROLLING)
def test_fixed_tasks_stay_and_new_tasks_start_after_min_start_time(scheduler: str) -> None:
    tg = diamond(1e6)
    net = three_nodes()
    # t1 ran on node-b and finished at 0.5 (it took its planned 0.5 s); it is now 2.0 s.
    fixed = sg.Schedule({"t1": sg.Placement("t1", "node-b", 0, 0.0, 0.5)})
    s = sg.plan(tg, net, scheduler, fixed=fixed, min_start_time=2.0)
    assert s.placements["t1"] == fixed.placements["t1"]
    for t in ("t2", "t3", "t4"):
        assert s.placements[t].start >= 2.0
    s.validate(tg, net)
    assert s.scheduler == scheduler


def test_a_running_task_with_an_observed_end_is_kept_and_respected() -> None:
    tg = diamond(0.0)
    net = three_nodes()
    # t1 is running longer than its cost says: predicted end 3.0 instead of 0.5.
    fixed = sg.Schedule({"t1": sg.Placement("t1", "node-a", 0, 0.0, 3.0)})
    s = sg.plan(tg, net, fixed=fixed, min_start_time=1.0)
    assert s.placements["t1"].end == 3.0
    assert s.placements["t2"].start >= 3.0 and s.placements["t3"].start >= 3.0
    s.validate(tg, net, observed={"t1"})
    with pytest.raises(
        sg.errors.InvalidScheduleError, match="task 't1' on node 'node-a' lasts 3.0 s but cost 0.5"
    ):
        s.validate(tg, net)


def test_node_available_at_delays_that_node_only() -> None:
    tg = sg.TaskGraph()
    for i in range(6):
        tg.add_task(f"j{i}", 1.0)
    net = sg.Network(default_bandwidth=1e9)
    net.add_node("busy", slots=2, speed=4.0)  # fastest, so a planner wants it
    net.add_node("free", slots=1)
    s = sg.plan(tg, net, node_available_at={"busy": 10.0})
    s.validate(tg, net)
    on_busy = [p for p in s.placements.values() if p.node == "busy"]
    assert all(p.start >= 10.0 for p in on_busy)
    assert any(p.node == "free" and p.start < 10.0 for p in s.placements.values())


def test_occupancy_only_fixed_tasks_block_their_slot() -> None:
    tg = sg.TaskGraph()
    for i in range(3):
        tg.add_task(f"new{i}", 1.0)
    net = sg.Network(default_bandwidth=1e9)
    net.add_node("a", slots=1, speed=10.0)
    net.add_node("b", slots=1)
    # A task of an earlier graph holds node a until t=50.
    fixed = sg.Schedule({"old": sg.Placement("old", "a", 0, 0.0, 50.0)})
    s = sg.plan(tg, net, fixed=fixed)
    assert set(s.placements) == {"new0", "new1", "new2"}
    for p in s.placements.values():
        assert p.node == "b" or p.start >= 50.0


def test_availability_blockers_fill_gaps_between_fixed_tasks() -> None:
    tg = sg.TaskGraph()
    tg.add_task("x", 0.5)
    net = sg.Network()
    net.add_node("only", slots=1)
    fixed = sg.Schedule(
        {
            "p": sg.Placement("p", "only", 0, 0.0, 1.0),
            "q": sg.Placement("q", "only", 0, 3.0, 4.0),
        }
    )
    # The 1..3 gap would fit x, but the node only becomes available at 2.8: x goes after q.
    s = sg.plan(tg, net, fixed=fixed, node_available_at={"only": 2.8})
    assert s.placements["x"].start == pytest.approx(4.0)
    s2 = sg.plan(tg, net, fixed=fixed, node_available_at={"only": 1.5})
    assert s2.placements["x"].start == pytest.approx(1.5)


@pytest.mark.parametrize("scheduler", ["PEFT", "ETF", "MinMin", "FCP", "MSBC"])
def test_plain_min_start_time_works_with_every_scheduler(scheduler: str) -> None:
    tg, net = random_problem(5, n_tasks=12)
    s = sg.plan(tg, net, scheduler, min_start_time=100.0)
    s.validate(tg, net)
    assert min(p.start for p in s.placements.values()) >= 100.0
    base = sg.plan(tg, net, scheduler)
    assert s.makespan == pytest.approx(base.makespan + 100.0)


def test_schedulers_without_partial_schedule_support_are_refused_clearly() -> None:
    fixed = sg.Schedule({"t1": sg.Placement("t1", "node-a", 0, 0.0, 0.5)})
    with pytest.raises(
        sg.errors.SchedulerFailedError, match="scheduler 'PEFT' does not honour fixed placements"
    ):
        sg.plan(diamond(), three_nodes(), "PEFT", fixed=fixed)
    s = sg.plan(diamond(), three_nodes(), ["PEFT", "HEFT"], fixed=fixed)
    assert s.scheduler == "HEFT"
    assert "does not honour" in str(s.portfolio["PEFT"])


def test_everything_fixed_returns_the_fixed_placements() -> None:
    tg = sg.TaskGraph()
    tg.add_task("a", 1.0)
    fixed = sg.Schedule({"a": sg.Placement("a", "node-a", 0, 5.0, 6.0)})
    s = sg.plan(tg, three_nodes(), fixed=fixed)
    assert dict(s.placements) == dict(fixed.placements)


@pytest.mark.parametrize(
    ("fixed", "error", "message"),
    [
        (
            {"t1": sg.Placement("t1", "ghost", 0, 0.0, 0.5)},
            sg.errors.UnknownNodeError,
            "fixed task 't1' is on unknown node 'ghost'",
        ),
        (
            {"t1": sg.Placement("t1", "node-a", 3, 0.0, 0.5)},
            sg.errors.InvalidScheduleError,
            "slot 3 of node 'node-a', which has 1 slot",
        ),
        (
            {"t1": sg.Placement("t1", "node-a", 0, 1.0, 0.5)},
            sg.errors.InvalidScheduleError,
            "fixed task 't1' has bad times",
        ),
        (
            {"t2": sg.Placement("t2", "node-a", 0, 0.5, 2.5)},
            sg.errors.InvalidScheduleError,
            "fixed task 't2' depends on 't1', which is not fixed",
        ),
        (
            {"t1": sg.Placement("t1", "node-a", 0, 0.0, 0.5), "x": sg.Placement("x", "node-a", 0, 0.2, 0.9)},
            sg.errors.InvalidScheduleError,
            "fixed tasks 't1' and 'x' overlap on node 'node-a' slot 0",
        ),
    ],
)
def test_bad_fixed_schedules(fixed: dict[str, sg.Placement], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sg.plan(diamond(), three_nodes(), fixed=sg.Schedule(fixed))


def test_rolling_replan_of_a_random_dag_is_valid() -> None:
    """Plan, 'run' the first third, re-plan the rest around it from the current time."""
    tg, net = random_problem(11, n_tasks=30, n_nodes=3, max_slots=2)
    first = sg.plan(tg, net)
    now = sorted(p.end for p in first.placements.values())[len(tg) // 3]
    done = {t: p for t, p in first.placements.items() if p.start < now}
    # a parent of a fixed task must be fixed: close the set upward
    changed = True
    while changed:
        changed = False
        for t in list(done):
            for parent in tg.parents(t):
                if parent not in done:
                    done[parent] = first.placements[parent]
                    changed = True
    again = sg.plan(tg, net, fixed=sg.Schedule(done), min_start_time=now, node_available_at={"n0": now + 1})
    again.validate(tg, net)
    for t, p in again.placements.items():
        if t in done:
            assert p == done[t]
        else:
            assert p.start >= now - 1e-9
            if p.node == "n0":
                assert p.start >= now + 1 - 1e-9
