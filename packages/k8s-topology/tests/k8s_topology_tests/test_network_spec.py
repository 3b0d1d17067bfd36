"""The network model: slots, speeds and bandwidth tiers of Topology.to_network_spec (pure, no server)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import k8s_topology as kt
from k8s_topology._nodes import node_from_dict
from k8s_topology._topology import locality_tier

from .conftest import make_node


def node(name: str, **kwargs: object) -> kt.KubeNode:
    return node_from_dict(make_node(name, **kwargs))  # type: ignore[arg-type]


def test_three_tiers_and_custom_cluster_figures() -> None:
    topo = kt.Topology(
        [
            node("a1", zone="a", region="eu"),
            node("a2", zone="a", region="eu"),
            node("b1", zone="b", region="eu"),
            node("c1", zone="c", region="us"),
        ]
    )
    tiers = kt.BandwidthTiers(same_zone=100.0, same_region=10.0, cross_region=1.0)
    spec = topo.to_network_spec(tiers)
    bw = {(lk["source"], lk["target"]): lk["bandwidth"] for lk in spec["links"]}
    assert bw == {
        ("a1", "a2"): 100.0,
        ("a1", "b1"): 10.0,
        ("a2", "b1"): 10.0,
        ("a1", "c1"): 1.0,
        ("a2", "c1"): 1.0,
        ("b1", "c1"): 1.0,
    }
    assert spec["default_bandwidth"] == 1.0


def test_nodes_without_zone_labels_count_as_one_zone_and_mixed_as_region() -> None:
    plain = [node("k1", zone=None, region=None), node("k2", zone=None, region=None)]
    assert locality_tier(*plain) == "same_zone"
    assert locality_tier(plain[0], node("z", zone="a", region=None)) == "same_region"


def test_slots_from_allocatable_cpu_floor_at_least_one_and_overrides() -> None:
    topo = kt.Topology(
        [
            node("big", cpu="7900m"),
            node("tiny", cpu="250m"),
            node("annotated", cpu="8", annotations={kt.SLOTS_KEY: "2"}),
        ]
    )
    slots = {n["name"]: n["slots"] for n in topo.to_network_spec()["nodes"]}
    assert slots == {"annotated": 2, "big": 7, "tiny": 1}
    everywhere = {n["name"]: n["slots"] for n in topo.to_network_spec(slots=4)["nodes"]}
    assert set(everywhere.values()) == {4}
    one = {n["name"]: n["slots"] for n in topo.to_network_spec(slots={"big": 5})["nodes"]}
    assert one == {"annotated": 2, "big": 5, "tiny": 1}


def test_speed_from_label_or_annotation_and_override() -> None:
    topo = kt.Topology(
        [
            node("fast", labels={kt.SPEED_KEY: "2.5"}),
            node("slow", annotations={kt.SPEED_KEY: "500m"}),  # a quantity: 0.5
            node("both", labels={kt.SPEED_KEY: "9"}, annotations={kt.SPEED_KEY: "3"}),  # annotation wins
            node("plain"),
        ]
    )
    speeds = {n["name"]: n["speed"] for n in topo.to_network_spec()["nodes"]}
    assert speeds == {"both": 3.0, "fast": 2.5, "plain": 1.0, "slow": 0.5}
    assert {n["speed"] for n in topo.to_network_spec(speeds=1.5)["nodes"]} == {1.5}


def test_bandwidth_annotation_caps_a_nodes_links() -> None:
    topo = kt.Topology([node("a"), node("b"), node("slow-nic", annotations={kt.BANDWIDTH_KEY: "125M"})])
    assert topo.bandwidth("a", "b") == kt.BandwidthTiers().same_zone
    assert topo.bandwidth("a", "slow-nic") == 125e6
    assert topo.bandwidth("slow-nic", "b") == 125e6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"slots": {"ghost": 2}}, r"unknown node\(s\) \['ghost'\]"),
        ({"slots": 0}, "slots for node 'a' = 0 is not a positive integer"),
        ({"speeds": {"a": -1.0}}, "speed for node 'a' = -1.0 is not a positive finite number"),
        ({"speeds": float("nan")}, "speed for node 'a' = nan"),
    ],
)
def test_bad_overrides_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(kt.errors.InvalidOverride, match=match):
        kt.Topology([node("a")]).to_network_spec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("meta", "key", "value"),
    [
        ({"annotations": {"saga.parsl.org/speed": "fast"}}, "saga.parsl.org/speed", "fast"),
        ({"annotations": {"saga.parsl.org/speed": "0"}}, "saga.parsl.org/speed", "0"),
        ({"annotations": {"saga.parsl.org/slots": "two"}}, "saga.parsl.org/slots", "two"),
        ({"annotations": {"saga.parsl.org/bandwidth": "-1G"}}, "saga.parsl.org/bandwidth", "-1G"),
    ],
)
def test_malformed_node_metadata_is_an_invalid_quantity(
    meta: dict[str, dict[str, str]], key: str, value: str
) -> None:
    with pytest.raises(kt.errors.InvalidQuantity) as info:
        kt.Topology([node("n", **meta), node("m")]).to_network_spec()
    assert (info.value.node, info.value.field, info.value.value) == ("n", key, value)


def test_bad_tiers_rejected() -> None:
    with pytest.raises(kt.errors.InvalidOverride, match="BandwidthTiers.same_region = 0"):
        kt.BandwidthTiers(same_region=0)


def test_malformed_memory_quantity_named() -> None:
    with pytest.raises(kt.errors.InvalidQuantity, match=r"node 'm': status.allocatable.memory = '16 GiB'"):
        node("m", memory="16 GiB")


def test_label_selector_syntax_error_is_named() -> None:
    with pytest.raises(kt.errors.InvalidLabelSelector, match="cannot parse 'zone in a'"):
        kt.NodeFilter(label_selector="tier=web,zone in a")


zones = st.sampled_from([None, "z1", "z2"])
regions = st.sampled_from([None, "r1", "r2"])


@given(st.lists(st.tuples(zones, regions), min_size=1, max_size=7))
def test_spec_links_every_pair_once_with_a_positive_symmetric_bandwidth(
    places: list[tuple[str | None, str | None]],
) -> None:
    nodes = [node(f"n{i}", zone=z, region=r) for i, (z, r) in enumerate(places)]
    topo = kt.Topology(nodes)
    spec = topo.to_network_spec()
    json.dumps(spec)
    pairs = [frozenset((lk["source"], lk["target"])) for lk in spec["links"]]
    assert len(pairs) == len(set(pairs)) == len(nodes) * (len(nodes) - 1) // 2
    assert all(lk["bandwidth"] > 0 for lk in spec["links"])
    for a, b in itertools.combinations(nodes, 2):
        assert locality_tier(a, b) == locality_tier(b, a)
        assert topo.bandwidth(a.name, b.name) == topo.bandwidth(b.name, a.name)
