"""The network spec: the plain, JSON-able shape of a :class:`~saga_graphs.Network`.

One shape for the whole project: saga-dfk builds it from a config or from the executor's connected
nodes, k8s-topology produces it from Kubernetes (without importing this package), run reports
store it, and :meth:`Network.from_spec` / :meth:`Network.to_spec` convert it. Schema (the README's
"Network spec")::

    {"nodes": [{"name": "node-a", "slots": 2, "speed": 1.0}, ...],          # slots/speed optional
     "links": [{"source": "node-a", "target": "node-b", "bandwidth": 1.25e8}, ...],  # undirected
     "default_bandwidth": 1.25e9}                                          # optional, or null

The types are ``TypedDict`` s, so ``json.load`` output, a literal and k8s-topology's dict are all
specs without a conversion step; :func:`check_spec` validates one and names the bad entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from saga_graphs.errors import GraphValidationError

__all__ = ["DEFAULT_BANDWIDTH", "LinkSpec", "NetworkSpec", "NodeSpec", "check_spec"]

#: Bandwidth in bytes/s assumed between two nodes when nothing better is known: 10 Gbit/s, a
#: typical data-centre link (k8s-topology's same-zone tier has the same value).
DEFAULT_BANDWIDTH = 1.25e9

_SPEC_KEYS = ("nodes", "links", "default_bandwidth")
_LINK_KEYS = ("source", "target", "bandwidth")


class NodeSpec(TypedDict):
    """A node: ``slots`` tasks at once (default 1), each at ``speed`` x the reference core (default 1).

    Other keys (k8s-topology adds ``zone``, ``region``, ``cpu``, ``memory``) are allowed and ignored.
    """

    name: str
    slots: NotRequired[int]
    speed: NotRequired[float]


class LinkSpec(TypedDict):
    """An undirected link between two nodes, ``bandwidth`` in bytes/s (``inf``: free)."""

    source: str
    target: str
    bandwidth: float


class NetworkSpec(TypedDict):
    """Nodes, explicit links, and the bandwidth of pairs without a link (absent or ``None``: the
    widest multi-hop route, and no route is an error)."""

    nodes: list[NodeSpec]
    links: NotRequired[list[LinkSpec]]
    default_bandwidth: NotRequired[float | None]


def _entries(spec: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = spec.get(key)
    if value is None and key == "links":
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise GraphValidationError(f"network spec {key!r} must be a list; got {value!r:.200}")
    return value


def check_spec(spec: object) -> None:
    """Raise a :mod:`saga_graphs.errors` error naming the first structural problem of ``spec``.

    Structure only (a mapping with known keys, a ``nodes`` list of mappings with a ``name``, a
    ``links`` list of mappings with ``source``, ``target``, ``bandwidth``); the values themselves
    (names, slot counts, speeds, bandwidths, link endpoints) are checked by
    :meth:`Network.from_spec` as it adds them, with the same errors as ``add_node`` /
    ``set_bandwidth``.
    """
    if not isinstance(spec, Mapping):
        raise GraphValidationError(
            f"a network spec must be a mapping with a 'nodes' list; got {type(spec).__name__} {spec!r:.200}"
        )
    unknown = [k for k in spec if k not in _SPEC_KEYS]
    if unknown:
        raise GraphValidationError(
            f"network spec has unknown key(s) {unknown}; expected {', '.join(map(repr, _SPEC_KEYS))}"
        )
    if "nodes" not in spec:
        raise GraphValidationError(f"a network spec needs a 'nodes' list; got {spec!r:.200}")
    for i, item in enumerate(_entries(spec, "nodes")):
        if not isinstance(item, Mapping) or "name" not in item:
            raise GraphValidationError(f"network spec nodes[{i}]: a node entry needs a 'name'; got {item!r}")
        name = item["name"]
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise GraphValidationError(
                f"network spec nodes[{i}]: a node name must be a string (or an integer); got {name!r}"
            )
    for i, item in enumerate(_entries(spec, "links")):
        if not isinstance(item, Mapping) or not all(k in item for k in _LINK_KEYS):
            raise GraphValidationError(
                f"network spec links[{i}]: a link entry needs 'source', 'target', 'bandwidth'; got {item!r}"
            )
