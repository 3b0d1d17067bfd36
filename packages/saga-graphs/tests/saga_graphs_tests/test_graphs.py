"""TaskGraph / Network building, conversion and validation (each invalid input: error type + message)."""

from __future__ import annotations

import math

import networkx as nx
import pytest

import saga_graphs as sg

from .conftest import diamond


def test_task_graph_accessors() -> None:
    tg = diamond(10.0)
    assert dict(tg.tasks) == {"t1": 0.5, "t2": 2.0, "t3": 1.0, "t4": 0.5}
    assert tg.dependencies[("t1", "t2")] == 10.0
    assert tg.parents("t4") == ("t2", "t3")
    assert tg.children("t1") == ("t2", "t3")
    assert tg.topological_order()[0] == "t1" and tg.topological_order()[-1] == "t4"
    assert len(tg) == 4 and "t2" in tg


def test_task_graph_dict_and_networkx_round_trip() -> None:
    tg = diamond(123.5)
    assert sg.TaskGraph.from_dict(tg.to_dict()) == tg
    assert sg.TaskGraph.from_networkx(tg.to_networkx()) == tg


def test_non_string_ids_are_converted_predictably() -> None:
    g = nx.DiGraph()
    g.add_node(1, cost=2.0)
    g.add_node(("a", 2), cost=1.0)
    g.add_edge(1, ("a", 2), size=5)
    tg = sg.TaskGraph.from_networkx(g)
    assert list(tg.tasks) == ["1", "('a', 2)"]
    assert tg.dependencies[("1", "('a', 2)")] == 5.0
    # Two ids that print the same collide loudly instead of merging.
    g2 = nx.DiGraph()
    g2.add_node(1, cost=1.0)
    g2.add_node("1", cost=1.0)
    with pytest.raises(sg.DuplicateNameError, match="task '1' was already added"):
        sg.TaskGraph.from_networkx(g2)


def test_from_networkx_needs_costs() -> None:
    g = nx.DiGraph()
    g.add_node("x")
    with pytest.raises(sg.InvalidCostError, match="task 'x' has no 'cost' attribute"):
        sg.TaskGraph.from_networkx(g)
    assert sg.TaskGraph.from_networkx(g, default_cost=3.0).tasks["x"] == 3.0


def test_cycle_is_named() -> None:
    tg = sg.TaskGraph()
    for t in "abcd":
        tg.add_task(t)
    tg.add_dependency("a", "b")
    tg.add_dependency("b", "c")
    tg.add_dependency("c", "d")
    tg.add_dependency("d", "b")
    with pytest.raises(sg.CycleError, match=r"cycle: (b -> c -> d -> b|c -> d -> b -> c|d -> b -> c -> d)$"):
        tg.validate()
    with pytest.raises(sg.CycleError, match="cannot depend on itself"):
        tg.add_dependency("a", "a")


def test_cycle_is_rejected_by_plan() -> None:
    tg = sg.TaskGraph()
    tg.add_task("a")
    tg.add_task("b")
    tg.add_dependency("a", "b")
    tg.add_dependency("b", "a")
    net = sg.Network()
    net.add_node("n")
    with pytest.raises(sg.CycleError, match="a -> b -> a|b -> a -> b"):
        sg.plan(tg, net)


@pytest.mark.parametrize(
    ("parent", "child", "message"),
    [("zz", "t1", "unknown parent task 'zz'"), ("t1", "yy", "unknown child task 'yy'")],
)
def test_unknown_task_endpoints(parent: str, child: str, message: str) -> None:
    with pytest.raises(sg.UnknownTaskError, match=message):
        diamond().add_dependency(parent, child)


def test_duplicates() -> None:
    tg = diamond()
    with pytest.raises(sg.DuplicateNameError, match="task 't1' was already added"):
        tg.add_task("t1")
    with pytest.raises(sg.DuplicateNameError, match="dependency 't1' -> 't2' was already added"):
        tg.add_dependency("t1", "t2")
    net = sg.Network()
    net.add_node("a")
    with pytest.raises(sg.DuplicateNameError, match="node 'a' was already added"):
        net.add_node("a")


@pytest.mark.parametrize("name", ["__super_source__", "__super_sink__", "__saga_graphs_blocked_0__"])
def test_reserved_names(name: str) -> None:
    with pytest.raises(sg.ReservedNameError, match=f"name '{name}' is reserved"):
        sg.TaskGraph().add_task(name)
    with pytest.raises(sg.ReservedNameError, match=f"name '{name}' is reserved"):
        sg.Network().add_node(name)


def test_empty_name() -> None:
    with pytest.raises(sg.GraphValidationError, match="must not be empty"):
        sg.TaskGraph().add_task("")


@pytest.mark.parametrize("cost", [math.nan, -1.0, math.inf, -math.inf, "3", None, True])
def test_invalid_costs(cost: object) -> None:
    with pytest.raises(sg.InvalidCostError, match="cost of task 'x' must be"):
        sg.TaskGraph().add_task("x", cost)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [math.nan, -0.5, math.inf, "big"])
def test_invalid_sizes(size: object) -> None:
    tg = diamond()
    tg.add_task("t5")
    with pytest.raises(sg.InvalidSizeError, match="size of dependency 't4' -> 't5' must be"):
        tg.add_dependency("t4", "t5", size)  # type: ignore[arg-type]


@pytest.mark.parametrize("speed", [0.0, -2.0, math.nan, math.inf])
def test_invalid_speeds(speed: float) -> None:
    with pytest.raises(sg.InvalidSpeedError, match="speed of node 'n' must be a finite number > 0"):
        sg.Network().add_node("n", speed=speed)


@pytest.mark.parametrize("slots", [0, -1, 1.5, True])
def test_invalid_slots(slots: object) -> None:
    with pytest.raises(sg.InvalidSpeedError, match="slots of node 'n' must be an integer >= 1"):
        sg.Network().add_node("n", slots=slots)  # type: ignore[arg-type]


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, math.nan])
def test_invalid_bandwidths(bandwidth: float) -> None:
    net = sg.Network()
    net.add_node("a")
    net.add_node("b")
    with pytest.raises(sg.InvalidBandwidthError, match="bandwidth of link 'a' - 'b' must be > 0"):
        net.set_bandwidth("a", "b", bandwidth)
    with pytest.raises(sg.InvalidBandwidthError, match="bandwidth of default_bandwidth must be > 0"):
        sg.Network(default_bandwidth=bandwidth)


def test_link_errors() -> None:
    net = sg.Network()
    net.add_node("a")
    with pytest.raises(sg.UnknownNodeError, match="unknown node 'ghost'"):
        net.set_bandwidth("a", "ghost", 1.0)
    with pytest.raises(sg.InvalidBandwidthError, match="link to itself is always free"):
        net.set_bandwidth("a", "a", 1.0)


def test_empty_network() -> None:
    with pytest.raises(sg.EmptyNetworkError, match="the network has no nodes"):
        sg.Network().validate()
    with pytest.raises(sg.EmptyNetworkError):
        sg.plan(diamond(), sg.Network())


def test_disconnected_network_names_the_pair() -> None:
    net = sg.Network()
    for n in "abcd":
        net.add_node(n)
    net.set_bandwidth("a", "b", 10.0)
    net.set_bandwidth("c", "d", 10.0)
    with pytest.raises(sg.DisconnectedNetworkError, match="no link or route between 'a' - 'c'"):
        net.validate()
    with pytest.raises(sg.DisconnectedNetworkError):
        sg.plan(diamond(), net)


def test_multihop_bandwidth_is_the_widest_bottleneck() -> None:
    net = sg.Network()
    for n in "abc":
        net.add_node(n)
    net.set_bandwidth("a", "b", 100.0)
    net.set_bandwidth("b", "c", 30.0)
    assert net.bandwidth("a", "c") == 30.0
    assert net.bandwidth("b", "a") == 100.0
    assert net.bandwidth("a", "a") == math.inf
    net.set_bandwidth("a", "c", 50.0)  # an explicit link wins
    assert net.bandwidth("a", "c") == 50.0


def test_network_spec_round_trip_and_extra_keys() -> None:
    spec = {
        "nodes": [
            {"name": "node-a", "slots": 2, "speed": 1.0, "zone": "z1"},
            {"name": "node-b", "slots": 1, "speed": 2.0, "labels": {"x": "y"}},
        ],
        "links": [{"source": "node-a", "target": "node-b", "bandwidth": 1.25e8}],
        "default_bandwidth": 1.25e9,
    }
    net = sg.Network.from_spec(spec)
    assert net.nodes["node-a"] == sg.NodeSpec("node-a", 2, 1.0)
    assert net.bandwidth("node-b", "node-a") == 1.25e8
    assert sg.Network.from_spec(net.to_spec()) == net


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({}, sg.GraphValidationError, "needs a 'nodes' list"),
        ({"nodes": [{"slots": 1}]}, sg.GraphValidationError, "node entry needs a 'name'"),
        ({"nodes": [{"name": "a", "speed": 0}]}, sg.InvalidSpeedError, "speed of node 'a'"),
        ({"nodes": [{"name": "a"}], "links": [{"source": "a"}]}, sg.GraphValidationError, "link entry needs"),
        (
            {"nodes": [{"name": "a"}], "links": [{"source": "a", "target": "b", "bandwidth": 1}]},
            sg.UnknownNodeError,
            "unknown node 'b'",
        ),
    ],
)
def test_bad_specs(spec: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sg.Network.from_spec(spec)


def test_network_from_networkx() -> None:
    g = nx.Graph()
    g.add_node("a", slots=4, speed=2.0)
    g.add_node("b")
    g.add_edge("a", "b", bandwidth=5e8)
    net = sg.Network.from_networkx(g)
    assert net.nodes["a"].slots == 4 and net.nodes["b"].speed == 1.0
    assert net.bandwidth("a", "b") == 5e8
    assert net.total_slots == 5
