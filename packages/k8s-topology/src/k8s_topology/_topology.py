"""The topology of usable nodes and its network model (the narrow interface to saga-graphs).

This package must not import SAGA or saga_graphs; ``Topology.to_network_spec`` returns a plain,
JSON-able saga-graphs network spec (``saga_graphs.NetworkSpec``; the schema is documented in
packages/saga-graphs/README.md, "Network spec"), which ``saga_graphs.Network.from_spec`` consumes::

    {"nodes": [{"name": "node-a", "slots": 2, "speed": 1.0, ...}, ...],
     "links": [{"source": "node-a", "target": "node-b", "bandwidth": 1.25e8}, ...],   # undirected
     "default_bandwidth": 1.25e8}

The extra node keys (``zone``, ``region``, ``cpu``, ``memory``) are allowed by that schema and
ignored by saga-graphs. The bandwidth tiers below are this package's own constants (the same-zone
tier equals ``saga_graphs.DEFAULT_BANDWIDTH``, 10 Gbit/s, without importing it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from k8s_topology._nodes import KubeNode
from k8s_topology.errors import InvalidOverride

Tier = Literal["same_zone", "same_region", "cross_region"]


@dataclass(frozen=True)
class BandwidthTiers:
    """Link bandwidth (bytes/s) by locality tier, for one cluster.

    The defaults are deliberately coarse, only meant to rank placements when nothing better is known:
    10 Gbit/s inside a zone (1.25e9 B/s), 5 Gbit/s across zones of a region (6.25e8 B/s), 1 Gbit/s across
    regions (1.25e8 B/s). Measure your cluster and pass real figures; a node can also cap its own
    links with the ``saga.parsl.org/bandwidth`` annotation (a quantity such as ``"125M"``).

    Nodes without zone labels (e.g. kind, single-zone clusters) are treated as one zone; if only one of
    the two nodes has a zone label, the pair is treated as ``same_region`` (the cautious guess).
    """

    same_zone: float = 1.25e9
    same_region: float = 6.25e8
    cross_region: float = 1.25e8

    def __post_init__(self) -> None:
        for name in ("same_zone", "same_region", "cross_region"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidOverride(
                    f"BandwidthTiers.{name} = {value!r} is not a positive finite number of bytes/s"
                )

    def for_tier(self, tier: Tier) -> float:
        return float(getattr(self, tier))


def locality_tier(a: KubeNode, b: KubeNode) -> Tier:
    """Which tier the link between ``a`` and ``b`` belongs to (see :class:`BandwidthTiers`)."""
    if a.region and b.region and a.region != b.region:
        return "cross_region"
    if a.zone and b.zone:
        return "same_zone" if a.zone == b.zone else "same_region"
    if not a.zone and not b.zone:
        return "same_zone"
    return "same_region"


def _pair_bandwidth(
    a: KubeNode, b: KubeNode, tiers: BandwidthTiers, cap_a: float | None, cap_b: float | None
) -> float:
    value = tiers.for_tier(locality_tier(a, b))
    for cap in (cap_a, cap_b):
        if cap is not None:
            value = min(value, cap)
    return value


def _per_node[T](what: str, value: T | Mapping[str, T] | None, names: Sequence[str]) -> dict[str, T]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise InvalidOverride(
                f"{what} override names unknown node(s) {unknown}; known nodes: {sorted(names)}"
            )
        return dict(value)
    return dict.fromkeys(names, value)


@dataclass(frozen=True)
class Topology:
    """Usable nodes found by discovery, and the nodes left out with the reason for each.

    ``excluded`` maps node name -> human-readable reason(s), e.g. ``{"w5": "NotReady (Ready=False)"}``,
    so that "why is my node not used?" is answered without reading code.
    """

    nodes: Sequence[KubeNode]
    excluded: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda n: n.name)))
        object.__setattr__(self, "excluded", dict(sorted(self.excluded.items())))

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[KubeNode]:
        return iter(self.nodes)

    def node(self, name: str) -> KubeNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"node {name!r} is not in this topology; usable nodes: {self.names}")

    def bandwidth(self, a: str, b: str, tiers: BandwidthTiers | None = None) -> float:
        """Bytes/s between two nodes: the tier's figure, capped by either node's bandwidth annotation."""
        na, nb = self.node(a), self.node(b)
        return _pair_bandwidth(na, nb, tiers or BandwidthTiers(), na.bandwidth_cap(), nb.bandwidth_cap())

    def to_network_spec(
        self,
        tiers: BandwidthTiers | None = None,
        slots: int | Mapping[str, int] | None = None,
        speeds: float | Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """A saga-graphs network spec: every node with slots and speed, every unordered pair linked.

        ``slots`` / ``speeds`` override the per-node defaults (floor of allocatable CPU, at least 1; the
        ``saga.parsl.org/speed`` label/annotation or 1.0), either for all nodes (a number) or per node (a
        mapping). Every pair gets an explicit link because SAGA divides by link speed: a missing pair
        would be a zero-speed link. ``default_bandwidth`` is the slowest tier, for pairs added later.
        """
        tiers = tiers or BandwidthTiers()
        names = self.names
        slot_over = _per_node("slots", slots, names)
        speed_over = _per_node("speeds", speeds, names)
        nodes_out: list[dict[str, Any]] = []
        for n in self.nodes:
            s = slot_over.get(n.name, None)
            if s is None:
                s = n.default_slots()
            elif isinstance(s, bool) or not isinstance(s, int) or s < 1:
                raise InvalidOverride(f"slots for node {n.name!r} = {s!r} is not a positive integer")
            sp = speed_over.get(n.name, None)
            if sp is None:
                sp = n.default_speed()
            elif isinstance(sp, bool) or not isinstance(sp, int | float) or not math.isfinite(sp) or sp <= 0:
                raise InvalidOverride(f"speed for node {n.name!r} = {sp!r} is not a positive finite number")
            nodes_out.append(
                {
                    "name": n.name,
                    "slots": int(s),
                    "speed": float(sp),
                    "zone": n.zone,
                    "region": n.region,
                    "cpu": n.cpu,
                    "memory": n.memory,
                }
            )
        caps = {n.name: n.bandwidth_cap() for n in self.nodes}  # parsed once, not once per pair
        links = [
            {
                "source": a.name,
                "target": b.name,
                "bandwidth": _pair_bandwidth(a, b, tiers, caps[a.name], caps[b.name]),
            }
            for a, b in itertools.combinations(self.nodes, 2)
        ]
        return {"nodes": nodes_out, "links": links, "default_bandwidth": tiers.cross_region}
