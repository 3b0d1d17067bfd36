"""The fast HEFT against SAGA 2.1.0 itself: same placements, start times and makespan, bit for bit.

The reference is SAGA's deterministic HEFT variant,
``ParametricScheduler(UpwardRanking(), GreedyInsert(append_only=False, compare=EFT,
critical_path=False))``, run on the very same SAGA objects in the same process (so SAGA's
frozenset-order tie-breaking is the same on both sides). The corpus is seeded: 240 random DAGs of
varied shapes, sizes and networks, with deliberate ties (equal costs, equal speeds, equal links,
zero costs and sizes).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import saga
from saga import NetworkEdge, NetworkNode, ScheduledTask, TaskGraphEdge, TaskGraphNode
from saga.schedulers import HeftScheduler
from saga.schedulers.heft import heft_rank_sort
from saga.schedulers.parametric import ParametricScheduler
from saga.schedulers.parametric.components import GreedyInsert, GreedyInsertCompareFuncs, UpwardRanking

import saga_graphs.errors as sg_errors
from saga_graphs._fast_heft import FastHeftError, heft
from saga_graphs._problem import Problem, run_saga
from saga_graphs._saga_fast_heft import FastHeftScheduler, _from_saga, fast_heft

CORPUS_SIZE = 240


def reference_heft() -> ParametricScheduler:
    """SAGA's HEFT with nodes tried in name order (SAGA's HeftScheduler breaks ties between equally good
    nodes in set order, which depends on PYTHONHASHSEED; this reference does not)."""
    return ParametricScheduler(
        initial_priority=UpwardRanking(),
        insert_task=GreedyInsert(
            append_only=False, compare=GreedyInsertCompareFuncs.EFT, critical_path=False
        ),
    )


# -- problem generators ------------------------------------------------------------------------


def _edges_layered(rng: random.Random, n: int) -> list[tuple[int, int]]:
    layers: list[list[int]] = []
    i = 0
    while i < n:
        width = rng.randint(1, max(1, min(n - i, int(math.sqrt(n)) + 2)))
        layers.append(list(range(i, i + width)))
        i += width
    edges = []
    for upper, lower in itertools.pairwise(layers):
        for child in lower:
            for parent in rng.sample(upper, rng.randint(1, len(upper))):
                edges.append((parent, child))
    return edges


def _edges_fork_join(rng: random.Random, n: int) -> list[tuple[int, int]]:
    edges = []
    head, nxt = 0, 1
    while nxt < n:
        width = min(rng.randint(1, 8), n - nxt - 1) if n - nxt > 1 else 0
        if width <= 0:
            edges.append((head, nxt))
            head, nxt = nxt, nxt + 1
            continue
        branch = list(range(nxt, nxt + width))
        join = nxt + width
        for b in branch:
            edges.append((head, b))
            edges.append((b, join))
        head, nxt = join, join + 1
    return edges


def _edges_chain(rng: random.Random, n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


def _edges_gnp(rng: random.Random, n: int) -> list[tuple[int, int]]:
    p = rng.choice([0.05, 0.1, 0.2, 0.4]) if n > 10 else 0.4
    return [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]


def _edges_out_tree(rng: random.Random, n: int) -> list[tuple[int, int]]:
    return [(rng.randrange(0, j), j) for j in range(1, n)]


def _edges_in_tree(rng: random.Random, n: int) -> list[tuple[int, int]]:
    return [(j, rng.randrange(0, j)) for j in range(1, n)]


def _edges_independent(rng: random.Random, n: int) -> list[tuple[int, int]]:
    return []


SHAPES: dict[str, Callable[[random.Random, int], list[tuple[int, int]]]] = {
    "layered": _edges_layered,
    "fork_join": _edges_fork_join,
    "chain": _edges_chain,
    "gnp": _edges_gnp,
    "out_tree": _edges_out_tree,
    "in_tree": _edges_in_tree,
    "independent": _edges_independent,
}


def _value(rng: random.Random, style: str, high: float) -> float:
    if style == "uniform":
        return 1.0
    if style == "integer":
        return float(rng.randint(0, 4))
    if style == "mixed":
        return rng.choice([0.0, 1.0, 2.0, rng.uniform(0.0, high)])
    return rng.uniform(0.01, high)


def make_problem(
    seed: int, n_tasks: int | None = None, n_nodes: int | None = None
) -> tuple[saga.Network, saga.TaskGraph, str]:
    """A seeded random problem, built directly (never TaskGraph.create, which is O(V*E))."""
    rng = random.Random(seed)
    shape = list(SHAPES)[seed % len(SHAPES)]
    n = n_tasks or rng.choice([2, 3, 5, 8, 12, 20, 30, 45, 60, 80, 100, 150][: 12 if seed % 5 == 0 else 10])
    edges = SHAPES[shape](rng, n)
    # Node ids are shuffled so the index order is not a topological order.
    perm = list(range(n))
    rng.shuffle(perm)
    cost_style = rng.choice(["uniform", "integer", "mixed", "random"])
    size_style = rng.choice(["zero", "uniform", "integer", "random"])
    names = [f"t{perm[i]}" if seed % 3 else f"task-{perm[i]:03d}" for i in range(n)]
    tasks = {TaskGraphNode(name=names[i], cost=_value(rng, cost_style, 10.0)) for i in range(n)}
    deps = {
        TaskGraphEdge(
            source=names[a],
            target=names[b],
            size=0.0 if size_style == "zero" else _value(rng, size_style, 50.0),
        )
        for a, b in edges
    }
    if seed % 4 == 0 and n > 2:
        # SAGA's TaskGraph.create adds zero-cost __super_source__/__super_sink__ around
        # multi-entry/exit graphs; add them the same way (without the O(V*E) create).
        has_in = {names[b] for _, b in edges}
        has_out = {names[a] for a, _ in edges}
        sources = [name for name in names if name not in has_in]
        sinks = [name for name in names if name not in has_out]
        if len(sources) > 1:
            tasks.add(TaskGraphNode(name="__super_source__", cost=0.0))
            deps |= {TaskGraphEdge(source="__super_source__", target=s, size=0.0) for s in sources}
        if len(sinks) > 1:
            tasks.add(TaskGraphNode(name="__super_sink__", cost=0.0))
            deps |= {TaskGraphEdge(source=s, target="__super_sink__", size=0.0) for s in sinks}
    task_graph = saga.TaskGraph(tasks=frozenset(tasks), dependencies=frozenset(deps))

    p = n_nodes or rng.choice([1, 2, 3, 4, 5, 8, 16] if n < 100 else [2, 4, 8])
    node_names = [f"node-{j}" for j in rng.sample(range(max(20, p)), p)]  # "node-10" < "node-2"
    speed_style = rng.choice(["equal", "integer", "random"])
    nodes = [
        NetworkNode(
            name=name,
            speed=1.0
            if speed_style == "equal"
            else float(rng.randint(1, 3))
            if speed_style == "integer"
            else rng.uniform(0.2, 4.0),
        )
        for name in node_names
    ]
    link_style = rng.choice(["equal", "tiers", "random"])
    self_speed = rng.choice([math.inf, 1e12])
    links = []
    for a in range(p):
        for b in range(a, p):
            if a == b:
                speed = self_speed
            elif link_style == "equal":
                speed = 10.0
            elif link_style == "tiers":
                speed = rng.choice([1.0, 10.0, 100.0])
            else:
                speed = rng.uniform(0.5, 50.0)
            links.append(NetworkEdge(source=node_names[a], target=node_names[b], speed=speed))
    network = saga.Network(nodes=frozenset(nodes), edges=frozenset(links))
    label = f"seed={seed} shape={shape} tasks={len(tasks)} nodes={p} costs={cost_style} sizes={size_style}"
    return network, task_graph, label


def as_table(schedule: saga.Schedule) -> dict[str, list[tuple[str, float, float]]]:
    """Every node's task list, in SAGA's list order, as plain tuples."""
    return {node: [(t.name, t.start, t.end) for t in tasks] for node, tasks in schedule.mapping.items()}


def assert_valid(schedule: saga.Schedule, network: saga.Network, task_graph: saga.TaskGraph) -> None:
    """Independent check: every task once, runtimes = cost / speed, no overlap, data dependencies."""
    placed = {t.name: t for tasks in schedule.mapping.values() for t in tasks}
    assert set(placed) == {t.name for t in task_graph.tasks}
    speeds = {node.name: node.speed for node in network.nodes}
    for node, tasks in schedule.mapping.items():
        ordered = sorted(tasks, key=lambda t: (t.start, t.end))
        for before, after in itertools.pairwise(ordered):
            assert before.end <= after.start, (node, before, after)
        for t in tasks:
            assert math.isclose(
                t.end - t.start, task_graph.get_task(t.name).cost / speeds[node], rel_tol=1e-9, abs_tol=1e-12
            )
    for dep in task_graph.dependencies:
        parent, child = placed[dep.source], placed[dep.target]
        arrival = parent.end + dep.size / network.get_edge(parent.node, child.node).speed
        assert child.start >= arrival - 1e-9 * max(1.0, arrival), (dep, parent, child)


# -- the equivalence corpus ----------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_fast_heft_equals_saga_heft_on_the_corpus() -> None:
    shapes_seen: set[str] = set()
    tied = inserted = 0
    for seed in range(CORPUS_SIZE):
        network, task_graph, label = make_problem(seed)
        shapes_seen.add(label.split()[1])
        expected = reference_heft().schedule(network, task_graph)
        actual = FastHeftScheduler().schedule(network, task_graph)
        assert as_table(actual) == as_table(expected), label
        assert actual.makespan == expected.makespan, label
        assert_valid(actual, network, task_graph)
        # The schedule is a working SAGA Schedule: same lookups and load aggregates as SAGA's.
        assert {k: (v.node, v.start, v.end) for k, v in actual._task_map.items()} == {
            k: (v.node, v.start, v.end) for k, v in expected._task_map.items()
        }, label
        assert actual._compute_load == expected._compute_load, label
        assert actual._comm_load == expected._comm_load, label
        if actual.makespan > 0:
            assert actual.throughput == expected.throughput, label
        costs = [t.cost for t in task_graph.tasks]
        tied += len(set(costs)) < len(costs)
        # A task placed later in HEFT order but earlier on a node's timeline went into a gap.
        position = {name: i for i, name in enumerate(heft_rank_sort(network, task_graph))}
        inserted += any(
            position[a.name] > position[b.name]
            for ts in expected.mapping.values()
            for a, b in itertools.pairwise(ts)
        )
    assert len(shapes_seen) == len(SHAPES)
    # The corpus really exercises rank ties and insertion into gaps.
    assert tied >= CORPUS_SIZE // 2
    assert inserted >= CORPUS_SIZE // 10


@pytest.mark.timeout(300)
def test_fast_heft_equals_saga_heft_on_larger_problems() -> None:
    """Longer timelines (hundreds of tasks, up to 32 nodes) exercise the gap search harder."""
    for seed in range(9):
        network, task_graph, label = make_problem(
            5000 + seed, n_tasks=200 + 20 * seed, n_nodes=[8, 16, 32][seed % 3]
        )
        expected = reference_heft().schedule(network, task_graph)
        actual = fast_heft(network, task_graph)
        assert as_table(actual) == as_table(expected), label


@pytest.mark.timeout(300)
def test_topological_order_replica_equals_sagas() -> None:
    """Equal ranks are ordered by SAGA's task_graph.topological_sort() (networkx); the fast HEFT
    replays that algorithm on the frozenset iteration order instead of building a graph."""
    for seed in range(0, CORPUS_SIZE, 3):
        network, task_graph, label = make_problem(seed)
        problem = _from_saga(network, task_graph, "saga")
        positions = problem._generation_positions()
        ours = [name for _, name in sorted(zip(positions.tolist(), problem.task_names, strict=True))]
        assert ours == [t.name for t in task_graph.topological_sort()], label


@pytest.mark.timeout(300)
def test_rolling_planning_matches_saga() -> None:
    """Extending a partial schedule from a moment on, as saga-graphs' rolling planning does."""
    for seed in range(0, 60):
        network, task_graph, label = make_problem(1000 + seed)
        full = reference_heft().schedule(network, task_graph)
        rng = random.Random(seed)
        cut = full.makespan * rng.choice([0.2, 0.5, 0.8])
        # "Now" is the cut, or well after it, so that the ready times of the children of fixed
        # tasks fall before it and min_start_time decides.
        now = cut if seed % 2 else cut + full.makespan * 0.5
        partial = saga.Schedule(task_graph, network)
        for tasks in full.mapping.values():
            for t in tasks:
                if t.start < cut:  # closed under predecessors: parents end before children start
                    partial.add_task(ScheduledTask(node=t.node, name=t.name, start=t.start, end=t.end))
        ours, theirs = copy.deepcopy(partial), copy.deepcopy(partial)
        expected = reference_heft().schedule(network, task_graph, schedule=theirs, min_start_time=now)
        actual = fast_heft(network, task_graph, schedule=ours, min_start_time=now)
        assert actual is ours  # extended in place, like SAGA
        assert as_table(actual) == as_table(expected), label


def test_min_start_time_matches_saga() -> None:
    for seed in range(20):
        network, task_graph, label = make_problem(2000 + seed)
        expected = reference_heft().schedule(network, task_graph, min_start_time=7.25)
        actual = fast_heft(network, task_graph, min_start_time=7.25)
        assert as_table(actual) == as_table(expected), label
        assert min(t.start for ts in actual.mapping.values() for t in ts) >= 7.25


def test_node_constraints_match_saga() -> None:
    for seed in range(30):
        network, task_graph, label = make_problem(3000 + seed)
        rng = random.Random(seed)
        node_names = sorted(n.name for n in network.nodes)
        constraints = {
            t.name: set(rng.sample(node_names, rng.randint(1, len(node_names))))
            for t in task_graph.tasks
            if rng.random() < 0.4
        }
        expected = reference_heft().schedule(network, task_graph, node_constraints=constraints)
        actual = fast_heft(network, task_graph, node_constraints=constraints)
        assert as_table(actual) == as_table(expected), label
        for name, allowed in constraints.items():
            assert actual.get_scheduled_task(name).node in allowed


def test_empty_allow_list_raises_saga_constraint_violation() -> None:
    network, task_graph, _ = make_problem(5)
    name = sorted(t.name for t in task_graph.tasks)[0]
    with pytest.raises(saga.ConstraintViolation, match=name):
        fast_heft(network, task_graph, node_constraints={name: set()})


def test_unsorted_or_overlapping_existing_schedule_follows_sagas_literal_gap_scan() -> None:
    """A hand-made partial schedule (SAGA accepts any mapping lists, unsorted or overlapping) is
    scanned the way SAGA scans it: in list order, first fitting gap."""
    network = saga.Network(
        nodes=frozenset({NetworkNode(name="a", speed=1.0), NetworkNode(name="b", speed=0.01)}),
        edges=frozenset(
            {
                NetworkEdge(source="a", target="a", speed=math.inf),
                NetworkEdge(source="b", target="b", speed=math.inf),
                NetworkEdge(source="a", target="b", speed=2.0),
            }
        ),
    )
    fixed = {"x": 4.0, "y": 2.0, "u": 1.0}
    layouts = {
        # Unsorted: u (1-2) listed last. SAGA puts z (ready at 3) into the x..y gap at 4, then v
        # into the z..y gap at 5, where a sorted timeline would have started z at 3.
        "unsorted": (
            [("x", 0.0, 4.0), ("y", 6.0, 8.0), ("u", 1.0, 2.0)],
            {"z": 1.0, "v": 0.5},
            {"z": 4.0, "v": 5.0},
        ),
        # Overlapping: y starts before x ends; SAGA's scan skips both gaps they leave.
        "overlapping": (
            [("x", 0.0, 4.0), ("y", 3.0, 5.0), ("u", 9.0, 10.0)],
            {"z": 1.0, "v": 0.5},
            {"z": 5.0, "v": 6.0},
        ),
        # Start-unsorted: SAGA tests "ready + runtime <= first.start" (y at 6) and starts z at 3,
        # inside x; a binary search over the starts would have appended it at 4.
        "reversed": ([("y", 6.0, 8.0), ("x", 0.0, 4.0), ("u", 9.0, 10.0)], {"z": 1.0}, {"z": 3.0}),
    }
    for layout, (entries, new_tasks, starts) in layouts.items():
        task_graph = saga.TaskGraph(
            tasks=frozenset(TaskGraphNode(name=n, cost=c) for n, c in (fixed | new_tasks).items()),
            dependencies=frozenset(),
        )
        mapping = {"a": [ScheduledTask(node="a", name=n, start=s, end=e) for n, s, e in entries], "b": []}
        theirs = saga.Schedule(task_graph, network, mapping=copy.deepcopy(mapping))
        ours = saga.Schedule(task_graph, network, mapping=copy.deepcopy(mapping))
        expected = reference_heft().schedule(network, task_graph, schedule=theirs, min_start_time=3.0)
        actual = fast_heft(network, task_graph, schedule=ours, min_start_time=3.0)
        assert as_table(actual) == as_table(expected), layout
        assert {name: actual.get_scheduled_task(name).start for name in starts} == starts, layout


def test_makespan_equals_sagas_heftscheduler_when_there_are_no_node_ties() -> None:
    """SAGA's HeftScheduler differs from the parametric HEFT only in node tie order and a one-ulp
    start rounding; with distinct node speeds and random costs the makespans agree."""
    for seed in range(10):
        rng = random.Random(seed)
        n = 40
        names = [f"t{i}" for i in range(n)]
        task_graph = saga.TaskGraph(
            tasks=frozenset(TaskGraphNode(name=t, cost=rng.uniform(1, 10)) for t in names),
            dependencies=frozenset(
                TaskGraphEdge(source=names[i], target=names[j], size=rng.uniform(1, 20))
                for i in range(n)
                for j in range(i + 1, n)
                if rng.random() < 0.1
            ),
        )
        nodes = [NetworkNode(name=f"n{k}", speed=1.0 + k * 0.37) for k in range(4)]
        edges = [
            NetworkEdge(source=f"n{a}", target=f"n{b}", speed=math.inf if a == b else rng.uniform(1, 10))
            for a in range(4)
            for b in range(a, 4)
        ]
        network = saga.Network(nodes=frozenset(nodes), edges=frozenset(edges))
        expected = HeftScheduler().schedule(network, task_graph)
        actual = fast_heft(network, task_graph)
        assert math.isclose(actual.makespan, expected.makespan, rel_tol=1e-9)
        assert {t.name: t.node for ts in actual.mapping.values() for t in ts} == {
            t.name: t.node for ts in expected.mapping.values() for t in ts
        }


# -- the array path: plan()'s HEFT, on the plain Problem ------------------------------------------


def as_problem(network: saga.Network, task_graph: saga.TaskGraph, **kwargs: object) -> Problem:
    """The same instance as saga-graphs' plain Problem (what plan() hands the fast HEFT)."""
    return Problem(
        tasks=tuple((t.name, t.cost) for t in task_graph.tasks),
        dependencies=tuple((d.source, d.target, d.size) for d in task_graph.dependencies),
        processors=tuple((n.name, n.speed) for n in network.nodes),
        links=tuple((e.source, e.target, e.speed) for e in network.edges),
        **kwargs,  # type: ignore[arg-type]
    )


def placements_of(schedule: saga.Schedule) -> list[tuple[str, str, float, float]]:
    return sorted((t.name, t.node, t.start, t.end) for ts in schedule.mapping.values() for t in ts)


@pytest.mark.timeout(300)
def test_array_heft_equals_the_stable_saga_object_path_on_the_corpus() -> None:
    """heft(Problem) never builds a SAGA object; it must give exactly what the SAGA-object path
    with sorted tie-breaking gives (which equals SAGA on sorted collections, tested below)."""
    for seed in range(CORPUS_SIZE):
        network, task_graph, label = make_problem(seed)
        expected = fast_heft(network, task_graph, tie_break="stable")
        assert sorted(heft(as_problem(network, task_graph))) == placements_of(expected), label


@pytest.mark.timeout(300)
def test_array_heft_equals_the_saga_object_path_for_rolling_problems() -> None:
    """Fixed tasks of the graph, occupancy-only entries (other graphs, availability blockers) and
    min_start_time, through saga-graphs' own problem builder, against the previous route (SAGA
    objects built from the Problem, FastHeftScheduler on them)."""
    import saga_graphs as sg
    from saga_graphs._plan import build_problem

    from .conftest import random_problem

    compared = 0
    for seed in range(40):
        tg, net = random_problem(700 + seed, n_tasks=12 + seed, n_nodes=1 + seed % 4, max_slots=3)
        full = sg.plan(tg, net)
        rng = random.Random(seed)
        cut = full.makespan * rng.choice([0.0, 0.3, 0.6])
        fixed = {t: p for t, p in full.placements.items() if p.end <= cut}
        node = sorted(net.nodes)[seed % len(net)]
        extra = sg.Placement("other-graph", node, 0, cut, cut + 1.5)
        if not any(p.node == node and p.slot == 0 and p.end > cut for p in fixed.values()):
            fixed["other-graph"] = extra
        available = {node: cut + 2.0} if seed % 3 == 0 else None
        problem, _ = build_problem(
            tg, net, fixed=sg.Schedule(fixed), node_available_at=available, min_start_time=cut + 0.5
        )
        old = run_saga(FastHeftScheduler(tie_break="stable"), problem)
        assert sorted(heft(problem)) == sorted(old), f"seed={seed}"
        compared += len(problem.fixed) > len(fixed)  # blockers were needed
    assert compared >= 20


def test_array_heft_names_bad_problems() -> None:
    base = Problem(
        tasks=(("x", 1.0), ("y", 1.0)),
        dependencies=(("x", "y", 1.0),),
        processors=(("a", 1.0), ("b", 2.0)),
        links=(("a", "a", math.inf), ("a", "b", 1.0), ("b", "b", math.inf)),
    )
    assert sorted(p[0] for p in heft(base)) == ["x", "y"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"links": (("a", "a", math.inf), ("b", "b", math.inf))}, "no link between 'a' and 'b'"),
        ({"links": (*base.links, ("a", "c", 1.0))}, "'a'-'c' names a node that is not in the network"),
        ({"processors": (("a", 1.0), ("b", 0.0))}, r"bad nodes: \['b'\]"),
        ({"processors": ()}, "no nodes"),
        ({"tasks": (("x", 1.0), ("x", 2.0), ("y", 1.0))}, "two tasks have the same name 'x'"),
        ({"dependencies": (("x", "ghost", 1.0),)}, "'ghost'"),
        ({"dependencies": (("x", "y", 1.0), ("y", "x", 1.0))}, "cycle"),
        ({"fixed": (("x", "c#0", 0.0, 1.0),)}, "processor 'c#0'"),
        ({"min_start_time": math.nan}, "min_start_time must be finite"),
    ]
    for change, message in cases:
        with pytest.raises(FastHeftError, match=message):
            heft(dataclasses.replace(base, **change))
    assert issubclass(FastHeftError, sg_errors.SchedulerFailedError)


# -- stable tie-breaking -------------------------------------------------------------------------

_STABLE_SCRIPT = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from saga_graphs_tests.test_fast_heft import make_problem, as_table
from saga_graphs._saga_fast_heft import fast_heft
out = {}
for seed in range(0, 240, 7):
    network, task_graph, _ = make_problem(seed)
    out[seed] = as_table(fast_heft(network, task_graph, tie_break="stable"))
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.timeout(300)
def test_stable_tie_break_does_not_depend_on_pythonhashseed() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, "-c", _STABLE_SCRIPT, __import__("json").dumps(sys.path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout.strip().splitlines()[-1])  # structlog may print above it
    assert outputs[0] == outputs[1]


def test_stable_tie_break_is_saga_with_every_set_iterated_in_sorted_order() -> None:
    """The stable mode's claim, checked against SAGA itself: SAGA run on the same problem whose
    node, link, task and dependency collections iterate in sorted order (tuples put in place with
    pydantic's model_construct, so SAGA cannot reorder them) gives the identical schedule,
    rank ties included."""
    tied = 0
    for seed in range(0, CORPUS_SIZE, 2):
        network, task_graph, label = make_problem(seed)
        sorted_network = saga.Network.model_construct(
            nodes=tuple(sorted(network.nodes, key=lambda n: n.name)),
            edges=tuple(sorted(network.edges, key=lambda e: (e.source, e.target))),
        )
        sorted_graph = saga.TaskGraph.model_construct(
            tasks=tuple(sorted(task_graph.tasks, key=lambda t: t.name)),
            dependencies=tuple(sorted(task_graph.dependencies, key=lambda d: (d.source, d.target))),
        )
        expected = reference_heft().schedule(sorted_network, sorted_graph)
        actual = fast_heft(network, task_graph, tie_break="stable")
        assert as_table(actual) == as_table(expected), label
        costs = [t.cost for t in task_graph.tasks]
        tied += len(set(costs)) < len(costs)
    assert tied >= 30


# -- errors --------------------------------------------------------------------------------------


_LINKS = frozenset(
    {
        NetworkEdge(source="a", target="a", speed=math.inf),
        NetworkEdge(source="b", target="b", speed=math.inf),
        NetworkEdge(source="a", target="b", speed=1.0),
    }
)


def _tiny(
    edges: frozenset[NetworkEdge] = _LINKS,
    deps: frozenset[TaskGraphEdge] = frozenset({TaskGraphEdge(source="x", target="y", size=1.0)}),
) -> tuple[saga.Network, saga.TaskGraph]:
    network = saga.Network(
        nodes=frozenset({NetworkNode(name="a", speed=1.0), NetworkNode(name="b", speed=2.0)}), edges=edges
    )
    task_graph = saga.TaskGraph(
        tasks=frozenset({TaskGraphNode(name="x", cost=1.0), TaskGraphNode(name="y", cost=1.0)}),
        dependencies=deps,
    )
    return network, task_graph


def test_missing_link_is_named() -> None:
    network, task_graph = _tiny(
        edges=frozenset(
            {
                NetworkEdge(source="a", target="a", speed=math.inf),
                NetworkEdge(source="b", target="b", speed=math.inf),
            }
        )
    )
    with pytest.raises(FastHeftError, match="no link between 'a' and 'b'"):
        fast_heft(network, task_graph)


def test_zero_link_speed_is_named() -> None:
    network, task_graph = _tiny(
        edges=frozenset(
            {
                NetworkEdge(source="a", target="a", speed=math.inf),
                NetworkEdge(source="b", target="b", speed=math.inf),
                NetworkEdge(source="a", target="b", speed=0.0),
            }
        )
    )
    with pytest.raises(FastHeftError, match="'a'-'b' has speed 0.0"):
        fast_heft(network, task_graph)


def test_cycle_is_named() -> None:
    network, task_graph = _tiny(
        deps=frozenset(
            {
                TaskGraphEdge(source="x", target="y", size=1.0),
                TaskGraphEdge(source="y", target="x", size=1.0),
            }
        )
    )
    with pytest.raises(FastHeftError, match="cycle"):
        fast_heft(network, task_graph)


def test_unknown_dependency_endpoint_is_named() -> None:
    network, task_graph = _tiny(deps=frozenset({TaskGraphEdge(source="x", target="ghost", size=1.0)}))
    with pytest.raises(FastHeftError, match="'ghost'"):
        fast_heft(network, task_graph)


def test_bad_tie_break_is_named() -> None:
    network, task_graph = _tiny()
    with pytest.raises(FastHeftError, match="'sorted'"):
        fast_heft(network, task_graph, tie_break="sorted")  # type: ignore[arg-type]


def test_error_pickles() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(FastHeftError("bad link")))
    assert isinstance(err, FastHeftError) and str(err) == "bad link"


def test_scheduler_is_a_saga_scheduler() -> None:
    network, task_graph = _tiny()
    scheduler = FastHeftScheduler(tie_break="stable")
    assert isinstance(scheduler, saga.Scheduler)
    result = scheduler.schedule(network, task_graph)
    assert isinstance(result, saga.Schedule)
    # x (cost 1) runs on b (speed 2) in 0.5 s, y follows on b: makespan 1.0.
    assert result.makespan == 1.0
    assert [t.name for t in result.mapping["b"]] == ["x", "y"]


def test_garbage_collector_state_is_restored_even_on_error() -> None:
    """The fast HEFT pauses the cyclic GC while it runs; it must hand it back as it found it."""
    import gc

    network, task_graph = _tiny()
    assert gc.isenabled()
    fast_heft(network, task_graph)
    assert gc.isenabled()
    with pytest.raises(FastHeftError):
        fast_heft(network, task_graph, tie_break="sorted")  # type: ignore[arg-type]
    assert gc.isenabled()
    _, cyclic = _tiny(
        deps=frozenset(
            {TaskGraphEdge(source="x", target="y", size=1.0), TaskGraphEdge(source="y", target="x", size=1.0)}
        )
    )
    with pytest.raises(FastHeftError, match="cycle"):
        fast_heft(network, cyclic)
    assert gc.isenabled()
    gc.disable()
    try:
        fast_heft(network, task_graph)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gap_that_fits_only_by_sagas_rounding_is_used() -> None:
    """0.7 + 0.1 rounds to 0.7999999999999999, so SAGA's test ``gap_start + runtime <= gap_end``
    accepts the gap (0.7, 0.7999999999999999) for a 0.1 s task although the gap's computed width
    (0.09999999999999987) is smaller than 0.1. The fast HEFT must not skip it."""
    gap_end = 0.7 + 0.1
    assert gap_end - 0.7 < 0.1
    network = saga.Network(
        nodes=frozenset({NetworkNode(name="a", speed=1.0)}),
        edges=frozenset({NetworkEdge(source="a", target="a", speed=math.inf)}),
    )
    task_graph = saga.TaskGraph(
        tasks=frozenset(
            {
                TaskGraphNode(name="before", cost=0.7),
                TaskGraphNode(name="after", cost=5.0),
                TaskGraphNode(name="small", cost=0.1),
            }
        ),
        dependencies=frozenset(),
    )
    mapping = {
        "a": [
            ScheduledTask(node="a", name="before", start=0.0, end=0.7),
            ScheduledTask(node="a", name="after", start=gap_end, end=gap_end + 5.0),
        ]
    }
    expected = reference_heft().schedule(
        network, task_graph, schedule=saga.Schedule(task_graph, network, mapping=copy.deepcopy(mapping))
    )
    actual = fast_heft(
        network, task_graph, schedule=saga.Schedule(task_graph, network, mapping=copy.deepcopy(mapping))
    )
    assert expected.get_scheduled_task("small").start == 0.7
    assert as_table(actual) == as_table(expected)


def test_empty_task_graph_gives_an_empty_schedule_like_saga() -> None:
    network, _ = _tiny()
    empty = saga.TaskGraph(tasks=frozenset(), dependencies=frozenset())
    result = fast_heft(network, empty)
    assert as_table(result) == as_table(reference_heft().schedule(network, empty)) == {"a": [], "b": []}
    assert result.makespan == 0.0


def test_partial_schedule_of_another_graph_is_rejected() -> None:
    network, task_graph = _tiny()
    other = saga.TaskGraph(tasks=frozenset({TaskGraphNode(name="z", cost=2.0)}), dependencies=frozenset())
    with pytest.raises(FastHeftError, match="different task graph"):
        fast_heft(network, task_graph, schedule=saga.Schedule(other, network))
