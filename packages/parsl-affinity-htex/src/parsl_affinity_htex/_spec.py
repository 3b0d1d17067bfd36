"""Submit-time validation of a task's resource specification.

Validation happens in the driver, before anything is serialised, because upstream's interchange dies on a
non-numeric ``priority`` (and ``cleanup()`` then hangs) and a typo in a node name would otherwise surface only
as a task that never runs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from parsl_affinity_htex._errors import AffinitySpecError

__all__ = [
    "AFFINITY_CONTEXT_KEY",
    "LEGACY_NODE_KEY",
    "NODE_KEYS",
    "SPEC_KEYS",
    "TaskAffinity",
    "parse_allowed_nodes",
    "parse_resource_spec",
]

# ---- compatibility: the only place parsl-affinity-htex handles a name of the original SAGA-Parsl fork ----
#: The resource-specification key the original SAGA-Parsl fork's DataFlowKernel writes: an alias of ``node``
#: (both may be given if they name the same node). See README "Compatibility".
LEGACY_NODE_KEY: Final = "_saga_node_affinity"
# ---- end of compatibility ----

#: Keys that name the node: ``node`` and its alias LEGACY_NODE_KEY.
NODE_KEYS: Final = ("node", LEGACY_NODE_KEY)
#: Every key this executor accepts in a resource specification.
SPEC_KEYS: Final = frozenset({*NODE_KEYS, "affinity", "priority"})
#: Key of the task message's ``context`` that carries ``(node, hard)`` to the interchange. It is deliberately
#: NOT inside ``context["resource_spec"]``: the worker exports every resource_spec key as a ``PARSL_<KEY>``
#: environment variable that persists into later tasks on that worker.
AFFINITY_CONTEXT_KEY: Final = "parsl_affinity_htex"

AffinityMode = Literal["soft", "hard"]
AFFINITY_MODES: Final = ("soft", "hard")


@dataclass(frozen=True)
class TaskAffinity:
    """The validated, normalised placement request of one task."""

    node: str | None
    hard: bool
    priority: int | float | None


def _check_mode(value: object, what: str) -> AffinityMode:
    if value not in AFFINITY_MODES:
        raise AffinitySpecError(f"{what} must be 'soft' or 'hard', got {value!r}", key="affinity")
    return "hard" if value == "hard" else "soft"


def check_default_affinity(value: object) -> AffinityMode:
    """Validate the executor-wide ``default_affinity`` argument."""
    return _check_mode(value, "default_affinity")


def parse_resource_spec(
    spec: Mapping[str, Any] | None, default_affinity: AffinityMode = "soft"
) -> TaskAffinity:
    """Validate ``spec`` and return the task's node, mode and priority.

    Raises AffinitySpecError naming the bad key or value. ``spec`` is never modified (Parsl apps share one
    default dict across calls).
    """
    if not spec:
        return TaskAffinity(node=None, hard=False, priority=None)
    if not isinstance(spec, Mapping):
        raise AffinitySpecError(f"resource specification must be a dict, got {type(spec).__name__}: {spec!r}")
    unknown = sorted(str(k) for k in spec if k not in SPEC_KEYS)
    if unknown:
        raise AffinitySpecError(
            f"unknown resource specification key(s) {unknown}; accepted keys are {sorted(SPEC_KEYS)}",
            key=unknown[0],
        )

    node: str | None = None
    for key in NODE_KEYS:
        if key not in spec:
            continue
        value = spec[key]
        if not isinstance(value, str) or not value.strip():
            raise AffinitySpecError(f"{key!r} must be a non-empty node name (str), got {value!r}", key=key)
        if node is not None and value != node:
            raise AffinitySpecError(
                f"'node' ({node!r}) and {LEGACY_NODE_KEY!r} ({value!r}) name different nodes", key=key
            )
        node = value

    mode = default_affinity
    if "affinity" in spec:
        mode = _check_mode(spec["affinity"], "'affinity'")
        if node is None:
            raise AffinitySpecError(
                f"'affinity': {spec['affinity']!r} given without a 'node' to be affine to", key="affinity"
            )

    priority: int | float | None = None
    if "priority" in spec:
        raw = spec["priority"]
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise AffinitySpecError(
                f"'priority' must be a number, got {type(raw).__name__}: {raw!r}", key="priority"
            )
        priority = int(raw) if isinstance(raw, numbers.Integral) else float(raw)
        if isinstance(priority, float) and math.isnan(priority):
            raise AffinitySpecError("'priority' must be a number, got NaN", key="priority")

    return TaskAffinity(node=node, hard=node is not None and mode == "hard", priority=priority)


def parse_allowed_nodes(
    value: Mapping[str, int | None] | Iterable[str] | None,
) -> dict[str, int | None] | None:
    """Normalise an allow-list: names, or a mapping of name -> maximum pools (None: any number).

    Raises ValueError naming the bad entry.
    """
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"allowed_nodes must be a collection of node names or a mapping, got {value!r}")
    items = value.items() if isinstance(value, Mapping) else ((name, None) for name in value)
    allowed: dict[str, int | None] = {}
    for name, pools in items:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"allowed_nodes: node names must be non-empty strings, got {name!r}")
        if pools is not None and (isinstance(pools, bool) or not isinstance(pools, int) or pools < 1):
            raise ValueError(
                f"allowed_nodes: pools of node {name!r} must be an integer >= 1 or None, got {pools!r}"
            )
        allowed[name] = pools
    if not allowed:
        raise ValueError("allowed_nodes must name at least one node (None allows every node)")
    return allowed
