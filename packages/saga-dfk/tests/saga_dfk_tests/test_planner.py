"""The round planner on its own (no Parsl): calibration, drift thresholds, pins and running work.

Real saga_graphs planning; the tasks are saga-dfk's own records, built directly.
"""

from __future__ import annotations

import pytest

import saga_graphs
from saga_dfk._planner import Calibration, overdue_nodes, plan_round
from saga_dfk._records import Pin, PlannedTask, TaskAssignment


def _task(tid: int, func: str = "f", parents: tuple[int, ...] = (), **fields: object) -> PlannedTask:
    return PlannedTask(tid=tid, name=f"t{tid}", func_name=func, parents=parents, record=None, **fields)  # type: ignore[arg-type]


def test_a_costly_function_is_learned_once_not_again_after_the_refit() -> None:
    cal = Calibration()
    for _ in range(4):
        cal.observe("a", "chain", planned=1.0, actual=3.0)
    cal.fit()
    assert cal.function_factor("chain") == pytest.approx(3.0)
    # tasks planned with the factor applied now take as long as planned: the factor stays 3, not 9
    for _ in range(8):
        cal.observe("a", "chain", planned=3.0, actual=3.0, applied=cal.function_factor("chain"))
    cal.fit()
    assert cal.function_factor("chain") == pytest.approx(3.0)
    assert cal.node_factor("a") == 1.0


def test_a_slow_node_is_told_apart_from_costly_functions() -> None:
    cal = Calibration()
    for func in ("prep", "sim", "post"):
        for node in ("a", "b", "c"):
            cal.observe(node, func, planned=1.0, actual=1.0)
        cal.observe("d", func, planned=1.0, actual=2.0)
        cal.observe("d", func, planned=1.0, actual=2.0)
    assert cal.fit()
    assert cal.node_factor("d") == pytest.approx(2.0)
    assert {cal.function_factor(f) for f in ("prep", "sim", "post")} == {1.0}
    assert cal.node_factor("a") == 1.0


def test_a_function_seen_twice_does_not_make_its_node_slow() -> None:
    cal = Calibration()
    for _ in range(4):
        cal.observe("a", "light", planned=1.0, actual=1.0)
    cal.observe("a", "chain", planned=1.0, actual=3.0)
    cal.observe("a", "chain", planned=1.0, actual=3.0)
    cal.fit()
    assert cal.node_factor("a") == 1.0


def _late(node: str, start: float, end: float) -> PlannedTask:
    a = TaskAssignment(task_id=1, function="f", node=node, start=start, end=end, round=1, scheduler="HEFT")
    return _task(1, assignment=a, dispatched=True)


def test_drift_needs_both_thresholds() -> None:
    on_time = _late("z", 100.0, 101.0)  # a node with work that is not late
    # 3 s late, 10 s task: past the absolute threshold (2 s), not the relative one (0.5 x 10 s)
    assert overdue_nodes([_late("a", 0.0, 10.0), on_time], 13.0, relative=0.5, absolute=2.0) == {}
    # 1.5 s late, 0.5 s task: relative yes, absolute no
    assert overdue_nodes([_late("a", 0.0, 0.5), on_time], 2.0, relative=0.5, absolute=2.0) == {}
    got = overdue_nodes([_late("b", 0.0, 1.0), on_time], 4.0, relative=0.5, absolute=2.0)
    assert got == {"b": pytest.approx(3.0)}


def test_a_lag_every_node_shares_is_no_drift() -> None:
    """Workers that start late after the plan clock started make every node equally late."""
    tasks = [_late(n, 0.0, 1.0) for n in ("a", "b", "c")]
    assert overdue_nodes(tasks, 5.0, relative=0.5, absolute=2.0) == {}
    tasks.append(_late("d", 0.0, 1.0))
    tasks.append(_late("d", 0.0, 0.5))
    assert overdue_nodes(tasks, 9.0, relative=0.5, absolute=2.0) == {}  # 0.5 s more than the others
    tasks = [_late("a", 0.0, 6.0), _late("b", 0.0, 6.0), _late("c", 0.0, 1.0)]
    assert overdue_nodes(tasks, 7.0, relative=0.5, absolute=2.0) == {"c": pytest.approx(5.0)}
    assert overdue_nodes([_late("a", 0.0, 1.0)], 9.0, relative=0.5, absolute=2.0) == {}  # nowhere to go


def test_a_round_keeps_pins_and_plans_around_running_work() -> None:
    network = saga_graphs.Network(default_bandwidth=1e9)
    for name in ("a", "b"):
        network.add_node(name, slots=1)
    running = _task(
        1,
        dispatched=True,
        assignment=TaskAssignment(
            task_id=1, function="f", node="a", start=0.0, end=5.0, round=1, scheduler="HEFT"
        ),
    )
    pinned = _task(2, pin=Pin("a", hard=True))
    free = [_task(t) for t in (3, 4)]
    gone = _task(5, pin=Pin("z", hard=True))  # its node has no pool now: left to the executor
    records = {t.tid: t for t in (running, pinned, *free, gone)}
    plan = plan_round(
        batch=[pinned, *free, gone],
        fixed=[running],
        lookup=records.get,
        network=network,
        cost_model=saga_graphs.DeclaredCostModel(costs={"f": 5.0}),
        calibration=Calibration(),
        scheduler="HEFT",
        time_budget=10.0,
        now=1.0,
    )
    assert plan.placements[2].node == "a"
    assert plan.placements[2].start >= 5.0 - 1e-9  # after the fixed task (0-5 on a)
    assert {plan.placements[3].node, plan.placements[4].node} == {"b"}  # a is busy until 10
    assert plan.unplanned_pins == [5]
    assert plan.fixed == 1
