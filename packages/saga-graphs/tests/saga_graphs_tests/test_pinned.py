"""Pinned tasks: plan(..., pinned={task: node}) puts each on its node with every real scheduler.

HEFT (a processor mask), SAGA-HEFT and FastestNode (SAGA's node_constraints) honour pins natively;
every other scheduler ignores SAGA's constraints and its schedule is repaired. Nothing is mocked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from saga.schedulers.parametric import ParametricScheduler
from saga.schedulers.parametric.components import GreedyInsert, GreedyInsertCompareFuncs, UpwardRanking

import saga_graphs as sg
from saga_graphs._fast_heft import heft
from saga_graphs._pinned import misplaced, repair_pins
from saga_graphs._plan import _check_result, build_problem
from saga_graphs._problem import Problem, to_saga
from saga_graphs._registry import SchedulerEntry, _registry, entry, register_scheduler
from saga_graphs._saga_fast_heft import FastHeftScheduler
from saga_graphs._worker import shared_worker

from .conftest import diamond, random_problem, three_nodes

pytestmark = pytest.mark.timeout(120)

NATIVE = {"HEFT", "SAGA-HEFT", "FastestNode"}
ROLLING = [
    "HEFT",
    "SAGA-HEFT",
    "SAGA-HeftScheduler",
    "CPOP",
    "FastestNode",
    "MCT",
    "MET",
    "MST",
    "OLB",
    "DPS",
]


def _pins_against_heft(tg: sg.TaskGraph, net: sg.Network, every: int = 3) -> dict[str, str]:
    """Every ``every``-th task pinned to a node that unpinned HEFT does not put it on."""
    chosen = sg.plan(tg, net, "HEFT").nodes_of()
    nodes = sorted(net.nodes)
    pins: dict[str, str] = {}
    for i, task in enumerate(sorted(tg.tasks)):
        if i % every == 0:
            pins[task] = next(n for n in nodes[i % len(nodes) :] + nodes if n != chosen[task])
    return pins


def _assert_pinned(s: sg.Schedule, pins: dict[str, str]) -> None:
    wrong = {t: (s.placements[t].node, n) for t, n in pins.items() if s.placements[t].node != n}
    assert not wrong, f"{s.scheduler}: task -> (placed, pinned): {wrong}"


# -- every scheduler ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", sg.available_schedulers())
def test_every_scheduler_puts_pinned_tasks_on_their_node(scheduler: str) -> None:
    for seed in (11, 12):
        tg, net = random_problem(seed, n_tasks=14, n_nodes=3, max_slots=2)
        pins = _pins_against_heft(tg, net)
        s = sg.plan(tg, net, scheduler, pinned=pins, time_budget=20.0)
        s.validate(tg, net)
        _assert_pinned(s, pins)
        assert set(s.placements) == set(tg.tasks)
        assert s.scheduler == scheduler
        assert s.makespan >= sg.lower_bound(tg, net) - 1e-9


def test_a_portfolio_honours_pins_in_every_candidate() -> None:
    tg, net = random_problem(21, n_tasks=16, n_nodes=3, max_slots=2)
    pins = _pins_against_heft(tg, net, every=2)
    names = sg.available_schedulers()
    s = sg.plan(tg, net, names, pinned=pins, time_budget=20.0)
    assert all(isinstance(s.portfolio[n], float) for n in names), s.portfolio
    _assert_pinned(s, pins)
    s.validate(tg, net)
    assert s.makespan == min(v for v in s.portfolio.values() if isinstance(v, float))


def test_native_pin_support_is_exactly_the_schedulers_that_read_sagas_node_constraints() -> None:
    assert {n for n in sg.available_schedulers() if entry(n).supports_pins} == NATIVE


def test_schedulers_without_native_support_do_need_the_repair() -> None:
    """Their raw answers (SAGA's own, in the worker) put pinned tasks elsewhere: the repair is real."""
    tg, net = random_problem(11, n_tasks=14, n_nodes=3, max_slots=2)
    problem, _ = build_problem(tg, net, pinned=_pins_against_heft(tg, net))
    for name in ("SAGA-HeftScheduler", "CPOP", "MinMin"):
        raw, _ = shared_worker().run(name, problem, 20.0)
        moved = misplaced(problem, raw)
        assert moved, name
        repaired, moved_again = repair_pins(problem, raw)
        assert moved_again == moved and not misplaced(problem, repaired)
    for name in ("SAGA-HEFT", "FastestNode"):
        raw, _ = shared_worker().run(name, problem, 20.0)
        assert not misplaced(problem, raw), name


# -- pins change the plan ----------------------------------------------------------------------


def test_a_pin_heft_would_not_choose_is_honoured_and_the_rest_planned_around_it() -> None:
    tg, net = diamond(1e6), three_nodes()
    free = sg.plan(tg, net, "HEFT")
    assert free.placements["t2"].node == "node-a"  # README: the chain t1-t2-t4 stays on node-a
    s = sg.plan(tg, net, "HEFT", pinned={"t2": "node-c"})
    s.validate(tg, net)
    assert s.placements["t2"].node == "node-c"
    # The rest follows the pin: t3 takes t2's place after t1 on node-a, t4 joins t2 on node-c, and
    # the plan pays one transfer (t1's output to t2: 1 MB at 125 MB/s = 8 ms).
    assert s.nodes_of() == {"t1": "node-a", "t2": "node-c", "t3": "node-a", "t4": "node-c"}
    assert s.makespan == pytest.approx(free.makespan + 1e6 / 1.25e8)


def test_pins_on_a_random_dag_change_the_plan_and_keep_it_valid() -> None:
    tg, net = random_problem(5, n_tasks=20, n_nodes=4, max_slots=2)
    free = sg.plan(tg, net, "HEFT")
    pins = _pins_against_heft(tg, net, every=4)
    assert pins and all(free.placements[t].node != n for t, n in pins.items())
    s = sg.plan(tg, net, "HEFT", pinned=pins)
    s.validate(tg, net)
    _assert_pinned(s, pins)
    assert s.nodes_of() != free.nodes_of()


def test_pinned_tasks_use_every_slot_of_their_node() -> None:
    tg = sg.TaskGraph()
    for i in range(4):
        tg.add_task(f"job{i}", 1.0)
    net = sg.Network(default_bandwidth=1e9)
    net.add_node("fast", slots=4, speed=10.0)  # every scheduler wants it
    net.add_node("pool", slots=2)
    pins = dict.fromkeys(tg.tasks, "pool")
    # (Not FastestNode: by design it runs every task on one fastest slot.)
    for name in ("HEFT", "SAGA-HEFT", "CPOP", "MinMin"):
        s = sg.plan(tg, net, name, pinned=pins)
        s.validate(tg, net)
        _assert_pinned(s, pins)
        assert sorted(p.slot for p in s.placements.values()) == [0, 0, 1, 1], name
        assert s.makespan == pytest.approx(2.0), name


def test_pins_work_with_min_start_time_alone() -> None:
    tg, net = random_problem(8, n_tasks=12, n_nodes=3, max_slots=1)
    pins = _pins_against_heft(tg, net)
    for name in ("HEFT", "PEFT", "ETF"):  # PEFT and ETF cannot take a partial schedule
        s = sg.plan(tg, net, name, pinned=pins, min_start_time=100.0)
        s.validate(tg, net)
        _assert_pinned(s, pins)
        assert min(p.start for p in s.placements.values()) >= 100.0


@pytest.mark.parametrize("scheduler", ROLLING)
def test_pins_with_fixed_tasks_and_node_availability(scheduler: str) -> None:
    tg, net = diamond(1e6), three_nodes()
    fixed = sg.Schedule({"t1": sg.Placement("t1", "node-b", 0, 0.0, 0.5)})
    pins = {"t1": "node-b", "t2": "node-a", "t4": "node-c"}  # t1's pin agrees with its fixed placement
    s = sg.plan(
        tg,
        net,
        scheduler,
        fixed=fixed,
        min_start_time=2.0,
        node_available_at={"node-c": 5.0},
        pinned=pins,
    )
    s.validate(tg, net)
    _assert_pinned(s, pins)
    assert s.placements["t1"] == fixed.placements["t1"]
    assert s.placements["t4"].start >= 5.0
    assert all(s.placements[t].start >= 2.0 for t in ("t2", "t3", "t4"))


# -- the fast HEFT with pins equals SAGA's HEFT with node constraints ------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_heft_with_pins_equals_saga_heft_with_the_same_node_constraints(seed: int) -> None:
    tg, net = random_problem(40 + seed, n_tasks=20, n_nodes=4, max_slots=2)
    pins = _pins_against_heft(tg, net)
    ours = sg.plan(tg, net, "HEFT", pinned=pins)
    saga_heft = sg.plan(tg, net, "SAGA-HEFT", pinned=pins)  # ParametricScheduler(node_constraints=...)
    for t, p in ours.placements.items():
        q = saga_heft.placements[t]
        assert (p.node, p.slot) == (q.node, q.slot), t
        assert p.start == pytest.approx(q.start, rel=1e-12, abs=1e-12), t
        assert p.end == pytest.approx(q.end, rel=1e-12, abs=1e-12), t
    assert ours.makespan == pytest.approx(saga_heft.makespan, rel=1e-12)


def test_pinned_problem_gives_sagas_exact_schedule_on_the_same_saga_objects() -> None:
    """build_problem's allow-lists as SAGA node constraints: bit for bit, in one process."""
    reference = ParametricScheduler(
        UpwardRanking(),
        GreedyInsert(append_only=False, compare=GreedyInsertCompareFuncs.EFT, critical_path=False),
    )
    for seed in range(3):
        tg, net = random_problem(60 + seed, n_tasks=18, n_nodes=3, max_slots=2)
        problem, _ = build_problem(tg, net, pinned=_pins_against_heft(tg, net))
        constraints = problem.node_constraints()
        assert constraints
        network, task_graph, _ = to_saga(problem)
        expected = reference.schedule(network, task_graph, node_constraints=constraints)
        actual = FastHeftScheduler().schedule(network, task_graph, node_constraints=constraints)
        table = {p: [(t.name, t.start, t.end) for t in ts] for p, ts in expected.mapping.items()}
        assert {p: [(t.name, t.start, t.end) for t in ts] for p, ts in actual.mapping.items()} == table
        # The array path (sorted ties) lands every task on the same processor.
        ours = {t: proc for t, proc, _, _ in heft(problem)}
        assert ours == {t.name: p for p, ts in expected.mapping.items() for t in ts}


# -- the repair pass ---------------------------------------------------------------------------


def _chain_problem() -> Problem:
    """a -> b -> c, 1 s each on speed 1; processors x#0 (speed 2) and y#0 (speed 1); b pinned to y."""
    return Problem(
        tasks=(("a", 1.0), ("b", 1.0), ("c", 1.0)),
        dependencies=(("a", "b", 10.0), ("b", "c", 10.0)),
        processors=(("x#0", 2.0), ("y#0", 1.0)),
        links=(("x#0", "x#0", 1e30), ("x#0", "y#0", 5.0), ("y#0", "y#0", 1e30)),
        allowed=(("b", ("y#0",)),),
    )


def test_repair_moves_the_pinned_task_and_re_times_its_successors() -> None:
    problem = _chain_problem()
    unpinned = [("a", "x#0", 0.0, 0.5), ("b", "x#0", 0.5, 1.0), ("c", "x#0", 1.0, 1.5)]
    repaired, moved = repair_pins(problem, unpinned)
    assert moved == ["b"]
    # b on y: a's 10 bytes at 5 B/s arrive at 2.5; c keeps x and waits for b's output (2.0 s).
    assert repaired == [("a", "x#0", 0.0, 0.5), ("b", "y#0", 2.5, 3.5), ("c", "x#0", 5.5, 6.0)]


def test_repair_leaves_a_schedule_that_honours_the_pins_untouched() -> None:
    problem = _chain_problem()
    fine = [("a", "y#0", 0.0, 1.0), ("b", "y#0", 7.0, 8.0), ("c", "x#0", 10.0, 10.5)]
    assert repair_pins(problem, fine) == (fine, [])


def test_repair_does_not_hide_an_incomplete_answer() -> None:
    problem = _chain_problem()
    incomplete = [("a", "x#0", 0.0, 0.5), ("b", "x#0", 0.5, 1.0)]
    assert repair_pins(problem, incomplete) == (incomplete, [])


def test_repair_respects_fixed_entries_and_min_start_time() -> None:
    problem = Problem(
        tasks=(("a", 1.0), ("b", 1.0)),
        dependencies=(),
        processors=(("x#0", 1.0), ("y#0", 1.0), ("y#1", 1.0)),
        links=tuple((p, q, 1e30) for p in ("x#0", "y#0", "y#1") for q in ("x#0", "y#0", "y#1") if p <= q),
        fixed=(("other", "y#0", 0.0, 4.0), ("blocker", "y#1", -1.0, 3.0)),
        min_start_time=2.0,
        allowed=(("a", ("y#0", "y#1")),),
    )
    repaired, moved = repair_pins(problem, [("a", "x#0", 2.0, 3.0), ("b", "x#0", 3.0, 4.0)])
    assert moved == ["a"]
    # y#1 frees at 3.0 (before y#0 at 4.0); b keeps x#0 and moves up to min_start_time.
    assert repaired == [("a", "y#1", 3.0, 4.0), ("b", "x#0", 2.0, 3.0)]


def test_plan_logs_each_repair(caplog: pytest.LogCaptureFixture) -> None:
    tg, net = diamond(1e6), three_nodes()
    free = sg.plan(tg, net, "SAGA-HeftScheduler").placements["t2"].node
    elsewhere = next(n for n in sorted(net.nodes) if n != free)
    with caplog.at_level(logging.INFO, logger="saga_graphs"):
        s = sg.plan(tg, net, "SAGA-HeftScheduler", pinned={"t2": elsewhere})
    assert s.placements["t2"].node == elsewhere
    repairs = [r for r in caplog.records if r.getMessage().startswith("plan.pins_repaired")]
    assert len(repairs) == 1
    assert "scheduler=SAGA-HeftScheduler moved=1 tasks=t2" in repairs[0].getMessage()


# -- a native scheduler that breaks a pin fails; the check names the task --------------------------


@pytest.fixture
def temporary_entry() -> Iterator[None]:
    yield
    for key in ("test-ignores-pins", "test-claims-pins"):
        _registry.pop(key, None)


def _ignoring_pins(problem: Problem) -> list[tuple[str, str, float, float]]:
    """The fast HEFT on the problem without its allow-lists."""
    return heft(Problem(problem.tasks, problem.dependencies, problem.processors, problem.links))


def test_a_scheduler_claiming_pin_support_that_breaks_a_pin_counts_as_failed(temporary_entry: None) -> None:
    register_scheduler(
        SchedulerEntry("test-claims-pins", _ignoring_pins, in_worker=False, supports_pins=True)
    )
    with pytest.raises(
        sg.errors.SchedulerFailedError,
        match="'test-claims-pins' returned an invalid schedule: pinned task 't2' is on node 'node-a', "
        "not on its pinned node 'node-c'",
    ):
        sg.plan(diamond(1e6), three_nodes(), "test-claims-pins", pinned={"t2": "node-c"})


def test_a_registered_scheduler_without_pin_support_is_repaired(temporary_entry: None) -> None:
    register_scheduler(SchedulerEntry("test-ignores-pins", _ignoring_pins, in_worker=False))
    s = sg.plan(diamond(1e6), three_nodes(), "test-ignores-pins", pinned={"t2": "node-c"})
    s.validate(diamond(1e6), three_nodes())
    assert s.placements["t2"].node == "node-c"


def test_check_result_names_the_task_its_node_and_the_pinned_node() -> None:
    tg, net = diamond(1e6), three_nodes()
    s = sg.plan(tg, net, "HEFT")
    _check_result(s, tg, net, None, None, 0.0, {"t2": "node-a"})
    with pytest.raises(
        sg.errors.InvalidScheduleError,
        match="pinned task 't2' is on node 'node-a', not on its pinned node 'node-b'",
    ):
        _check_result(s, tg, net, None, None, 0.0, {"t2": "node-b"})


# -- bad input ---------------------------------------------------------------------------------


def test_a_pin_naming_an_unknown_task_is_an_unknown_task_error() -> None:
    with pytest.raises(
        sg.errors.UnknownTaskError, match=r"pinned names unknown task 'nope' \(pinned to node 'node-a'\)"
    ):
        sg.plan(diamond(), three_nodes(), pinned={"nope": "node-a"})


def test_a_pin_naming_an_unknown_node_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(
        sg.errors.UnknownNodeError,
        match=r"pinned task 't2' names unknown node 'node-z'; known: \['node-a', 'node-b', 'node-c'\]",
    ):
        sg.plan(diamond(), three_nodes(), pinned={"t2": "node-z"})


@pytest.mark.parametrize(
    ("pinned", "message"),
    [
        (
            {1: "node-a"},
            r"must map task names \(str\) to node names \(str\); got 1 -> 'node-a' \(int -> str\)",
        ),
        ({"t1": 0}, r"got 't1' -> 0 \(str -> int\)"),
        ({"t1": None}, r"got 't1' -> None \(str -> NoneType\)"),
        (["t1", "node-a"], r"pinned must be a mapping of task name -> node name; got list"),
        ("t1", r"pinned must be a mapping of task name -> node name; got str"),
    ],
)
def test_pins_that_are_not_str_to_str_are_a_typed_error(pinned: object, message: str) -> None:
    with pytest.raises(sg.errors.GraphValidationError, match=message):
        sg.plan(diamond(), three_nodes(), pinned=pinned)  # type: ignore[arg-type]


def test_a_pin_on_a_fixed_task_must_agree_with_its_fixed_node() -> None:
    tg, net = diamond(), three_nodes()
    fixed = sg.Schedule({"t1": sg.Placement("t1", "node-b", 0, 0.0, 0.5)})
    with pytest.raises(
        sg.errors.InvalidScheduleError,
        match="task 't1' is pinned to node 'node-a' but fixed on node 'node-b'",
    ):
        sg.plan(tg, net, fixed=fixed, min_start_time=1.0, pinned={"t1": "node-a"})
    s = sg.plan(tg, net, fixed=fixed, min_start_time=1.0, pinned={"t1": "node-b"})
    assert s.placements["t1"] == fixed.placements["t1"]


def test_every_task_fixed_and_pinned_returns_the_fixed_schedule() -> None:
    tg = sg.TaskGraph()
    tg.add_task("only", 1.0)
    fixed = sg.Schedule({"only": sg.Placement("only", "node-c", 0, 0.0, 1.0)})
    s = sg.plan(tg, three_nodes(), fixed=fixed, pinned={"only": "node-c"})
    assert s.placements == fixed.placements


def test_no_pins_leave_the_problem_unconstrained() -> None:
    tg, net = diamond(), three_nodes()
    assert build_problem(tg, net)[0].allowed == ()
    assert build_problem(tg, net, pinned={})[0].allowed == ()
    assert sg.plan(tg, net, pinned={}).placements == sg.plan(tg, net).placements
    problem, _ = build_problem(tg, net.with_slots({"node-b": 3}), pinned={"t3": "node-b"})
    assert problem.allowed == (("t3", ("node-b#0", "node-b#1", "node-b#2")),)
