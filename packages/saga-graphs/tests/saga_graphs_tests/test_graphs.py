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
    with pytest.raises(sg.errors.DuplicateNameError, match="task '1' was already added"):
        sg.TaskGraph.from_networkx(g2)


def test_from_networkx_needs_costs() -> None:
    g = nx.DiGraph()
    g.add_node("x")
    with pytest.raises(sg.errors.InvalidCostError, match="task 'x' has no 'cost' attribute"):
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
    with pytest.raises(
        sg.errors.CycleError, match=r"cycle: (b -> c -> d -> b|c -> d -> b -> c|d -> b -> c -> d)$"
    ):
        tg.validate()
    with pytest.raises(sg.errors.CycleError, match="cannot depend on itself"):
        tg.add_dependency("a", "a")


def test_cycle_is_rejected_by_plan() -> None:
    tg = sg.TaskGraph()
    tg.add_task("a")
    tg.add_task("b")
    tg.add_dependency("a", "b")
    tg.add_dependency("b", "a")
    net = sg.Network()
    net.add_node("n")
    with pytest.raises(sg.errors.CycleError, match="a -> b -> a|b -> a -> b"):
        sg.plan(tg, net)


@pytest.mark.parametrize(
    ("parent", "child", "message"),
    [("zz", "t1", "unknown parent task 'zz'"), ("t1", "yy", "unknown child task 'yy'")],
)
def test_unknown_task_endpoints(parent: str, child: str, message: str) -> None:
    with pytest.raises(sg.errors.UnknownTaskError, match=message):
        diamond().add_dependency(parent, child)


def test_duplicates() -> None:
    tg = diamond()
    with pytest.raises(sg.errors.DuplicateNameError, match="task 't1' was already added"):
        tg.add_task("t1")
    with pytest.raises(sg.errors.DuplicateNameError, match="dependency 't1' -> 't2' was already added"):
        tg.add_dependency("t1", "t2")
    net = sg.Network()
    net.add_node("a")
    with pytest.raises(sg.errors.DuplicateNameError, match="node 'a' was already added"):
        net.add_node("a")


@pytest.mark.parametrize("name", ["__super_source__", "__super_sink__", "__saga_graphs_blocked_0__"])
def test_reserved_names(name: str) -> None:
    with pytest.raises(sg.errors.ReservedNameError, match=f"name '{name}' is reserved"):
        sg.TaskGraph().add_task(name)
    with pytest.raises(sg.errors.ReservedNameError, match=f"name '{name}' is reserved"):
        sg.Network().add_node(name)


def test_empty_name() -> None:
    with pytest.raises(sg.errors.GraphValidationError, match="must not be empty"):
        sg.TaskGraph().add_task("")


@pytest.mark.parametrize("cost", [math.nan, -1.0, math.inf, -math.inf, "3", None, True])
def test_invalid_costs(cost: object) -> None:
    with pytest.raises(sg.errors.InvalidCostError, match="cost of task 'x' must be"):
        sg.TaskGraph().add_task("x", cost)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [math.nan, -0.5, math.inf, "big"])
def test_invalid_sizes(size: object) -> None:
    tg = diamond()
    tg.add_task("t5")
    with pytest.raises(sg.errors.InvalidSizeError, match="size of dependency 't4' -> 't5' must be"):
        tg.add_dependency("t4", "t5", size)  # type: ignore[arg-type]


@pytest.mark.parametrize("speed", [0.0, -2.0, math.nan, math.inf])
def test_invalid_speeds(speed: float) -> None:
    with pytest.raises(sg.errors.InvalidSpeedError, match="speed of node 'n' must be a finite number > 0"):
        sg.Network().add_node("n", speed=speed)


@pytest.mark.parametrize("slots", [0, -1, 1.5, True])
def test_invalid_slots(slots: object) -> None:
    with pytest.raises(sg.errors.InvalidSpeedError, match="slots of node 'n' must be an integer >= 1"):
        sg.Network().add_node("n", slots=slots)  # type: ignore[arg-type]


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, math.nan])
def test_invalid_bandwidths(bandwidth: float) -> None:
    net = sg.Network()
    net.add_node("a")
    net.add_node("b")
    with pytest.raises(sg.errors.InvalidBandwidthError, match="bandwidth of link 'a' - 'b' must be > 0"):
        net.set_bandwidth("a", "b", bandwidth)
    with pytest.raises(sg.errors.InvalidBandwidthError, match="bandwidth of default_bandwidth must be > 0"):
        sg.Network(default_bandwidth=bandwidth)


def test_link_errors() -> None:
    net = sg.Network()
    net.add_node("a")
    with pytest.raises(sg.errors.UnknownNodeError, match="unknown node 'ghost'"):
        net.set_bandwidth("a", "ghost", 1.0)
    with pytest.raises(sg.errors.InvalidBandwidthError, match="link to itself is always free"):
        net.set_bandwidth("a", "a", 1.0)


def test_empty_network() -> None:
    with pytest.raises(sg.errors.EmptyNetworkError, match="the network has no nodes"):
        sg.Network().validate()
    with pytest.raises(sg.errors.EmptyNetworkError):
        sg.plan(diamond(), sg.Network())


def test_disconnected_network_names_the_pair() -> None:
    net = sg.Network()
    for n in "abcd":
        net.add_node(n)
    net.set_bandwidth("a", "b", 10.0)
    net.set_bandwidth("c", "d", 10.0)
    with pytest.raises(sg.errors.DisconnectedNetworkError, match="no link or route between 'a' - 'c'"):
        net.validate()
    with pytest.raises(sg.errors.DisconnectedNetworkError):
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
    assert net.nodes["node-a"] == sg.Node("node-a", 2, 1.0)
    assert net.bandwidth("node-b", "node-a") == 1.25e8
    assert sg.Network.from_spec(net.to_spec()) == net


E = sg.errors


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ([], E.GraphValidationError, "must be a mapping with a 'nodes' list; got list"),
        ({}, E.GraphValidationError, "needs a 'nodes' list"),
        ({"nodes": {}}, E.GraphValidationError, "'nodes' must be a list; got {}"),
        (
            {"nodes": [], "default_bandwith": 1.0},
            E.GraphValidationError,
            r"unknown key\(s\) \['default_bandwith'\]",
        ),
        ({"nodes": [{"slots": 1}]}, E.GraphValidationError, r"nodes\[0\]: a node entry needs a 'name'"),
        ({"nodes": ["a"]}, E.GraphValidationError, r"nodes\[0\]: a node entry needs a 'name'; got 'a'"),
        (
            {"nodes": [{"name": "b"}, {"name": "a", "speed": 0}]},
            E.InvalidSpeedError,
            r"nodes\[1\]: speed of node 'a'",
        ),
        (
            {"nodes": [{"name": "a", "slots": 2.0}]},
            E.InvalidSpeedError,
            "slots of node 'a' must be an integer >= 1; got 2.0",
        ),
        (
            {"nodes": [{"name": "a"}, {"name": "a"}]},
            E.DuplicateNameError,
            r"nodes\[1\]: node 'a' was already added",
        ),
        ({"nodes": [{"name": "__x__"}]}, E.ReservedNameError, "reserved"),
        ({"nodes": [{"name": None}]}, E.GraphValidationError, r"nodes\[0\]: a node name must be a string"),
        (
            {"nodes": [{"name": "a"}], "links": "a-b"},
            E.GraphValidationError,
            "'links' must be a list; got 'a-b'",
        ),
        (
            {"nodes": [{"name": "a"}], "links": [{"source": "a"}]},
            E.GraphValidationError,
            r"links\[0\]: a link entry needs",
        ),
        (
            {"nodes": [{"name": "a"}], "links": [{"source": "a", "target": "b", "bandwidth": 1}]},
            E.UnknownNodeError,
            r"links\[0\]: link 'a' - 'b': unknown node 'b'",
        ),
        (
            {
                "nodes": [{"name": "a"}, {"name": "b"}],
                "links": [{"source": "a", "target": "b", "bandwidth": 0}],
            },
            E.InvalidBandwidthError,
            "must be > 0 bytes/s",
        ),
        ({"nodes": [{"name": "a"}], "default_bandwidth": "fast"}, E.InvalidBandwidthError, "got 'fast'"),
    ],
)
def test_bad_specs_name_the_entry_and_value(spec: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sg.Network.from_spec(spec)  # type: ignore[arg-type]


def test_spec_defaults_null_links_and_json_round_trip() -> None:
    import json

    net = sg.Network.from_spec({"nodes": [{"name": "a"}, {"name": 7, "slots": 3}], "links": None})
    assert net.nodes["a"] == sg.Node("a", 1, 1.0) and net.nodes["7"] == sg.Node("7", 3, 1.0)
    assert net.default_bandwidth is None and "default_bandwidth" not in net.to_spec()
    assert sg.Network.from_spec({"nodes": [], "default_bandwidth": None}).to_spec() == {
        "nodes": [],
        "links": [],
    }
    typed: sg.NetworkSpec = {
        "nodes": [{"name": "a", "slots": 2, "speed": 1.5}, {"name": "b"}],
        "links": [{"source": "b", "target": "a", "bandwidth": 1e8}],
        "default_bandwidth": sg.DEFAULT_BANDWIDTH,
    }
    spec = sg.Network.from_spec(typed).to_spec()
    assert json.loads(json.dumps(spec)) == spec
    assert sg.Network.from_spec(json.loads(json.dumps(spec))) == sg.Network.from_spec(typed)
    assert spec["links"] == [{"source": "a", "target": "b", "bandwidth": 1e8}]  # undirected, sorted pair


def test_default_bandwidth_is_one_named_constant() -> None:
    assert sg.DEFAULT_BANDWIDTH == 1.25e9  # 10 Gbit/s in bytes/s


def _three() -> sg.Network:
    return sg.Network.from_spec(
        {
            "nodes": [{"name": "c", "slots": 1, "speed": 3.0}, {"name": "a", "slots": 2}, {"name": "b"}],
            "links": [
                {"source": "a", "target": "b", "bandwidth": 10.0},
                {"source": "b", "target": "c", "bandwidth": 5.0},
            ],
        }
    )


def test_restrict_keeps_the_named_nodes_and_their_links() -> None:
    net = _three()
    live = net.restrict({"c", "b", "not-in-the-network"})
    assert list(live) == ["c", "b"]  # the network's order, unknown names ignored
    assert live.links == {("b", "c"): 5.0} and live.default_bandwidth is None
    assert live.bandwidth("b", "c") == 5.0
    assert list(net) == ["c", "a", "b"] and len(net.links) == 2  # unchanged
    # a -> c went through b: without b there is no route any more.
    with pytest.raises(E.DisconnectedNetworkError, match="'a' - 'c'"):
        net.restrict(["a", "c"]).validate()
    assert net.bandwidth("a", "c") == 5.0
    assert len(net.restrict([])) == 0
    with pytest.raises(E.GraphValidationError, match="not one string; got 'ab'"):
        net.restrict("ab")


def test_with_slots_replaces_the_named_slot_counts_only() -> None:
    net = _three()
    more = net.with_slots({"b": 4, "a": 1})
    assert [(n.name, n.slots, n.speed) for n in more.nodes.values()] == [
        ("c", 1, 3.0),
        ("a", 1, 1.0),
        ("b", 4, 1.0),
    ]
    assert more.links == net.links and net.nodes["b"].slots == 1
    with pytest.raises(E.UnknownNodeError, match="cannot set the slots of unknown node 'z'"):
        net.with_slots({"z": 2})
    with pytest.raises(E.InvalidSpeedError, match="slots of node 'a' must be an integer >= 1; got 0"):
        net.with_slots({"a": 0})


def test_speed_is_a_lookup_that_names_unknown_nodes() -> None:
    net = _three()
    assert net.speed("c") == 3.0 and net.speed("a") == 1.0
    assert "c" in net and "z" not in net
    with pytest.raises(E.UnknownNodeError, match="unknown node 'z'; known: \\['a', 'b', 'c'\\]"):
        net.speed("z")


def test_network_from_networkx() -> None:
    g = nx.Graph()
    g.add_node("a", slots=4, speed=2.0)
    g.add_node("b")
    g.add_edge("a", "b", bandwidth=5e8)
    net = sg.Network.from_networkx(g)
    assert net.nodes["a"].slots == 4 and net.nodes["b"].speed == 1.0
    assert net.bandwidth("a", "b") == 5e8
    assert net.total_slots == 5
