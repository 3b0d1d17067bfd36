"""Kubernetes Node objects, as this package sees them.

Nodes are parsed from the API server's JSON form (a plain dict, exactly what ``list_node`` and the watch
stream carry) rather than from the client's generated models: one parser serves both listing and
watching, and a node with fields the client's strict models reject still gets a clear error.
Quantities go through ``kubernetes.utils.parse_quantity``; nothing is parsed by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from k8s_topology.errors import InvalidLabelSelector, InvalidQuantity

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
# Deprecated since 1.17 but still set by some providers; read only as a fallback.
LEGACY_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
LEGACY_REGION_LABEL = "failure-domain.beta.kubernetes.io/region"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
HOSTNAME_LABEL = "kubernetes.io/hostname"

#: Label or annotation with the node's relative speed (speed-1 reference core = 1.0).
SPEED_KEY = "saga.parsl.org/speed"
#: Label or annotation overriding the worker slots derived from allocatable CPU.
SLOTS_KEY = "saga.parsl.org/slots"
#: Annotation capping every link of this node (bytes/s, any Kubernetes quantity such as "125M").
BANDWIDTH_KEY = "saga.parsl.org/bandwidth"

#: Taint effects that keep new worker pods off a node.
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


@dataclass(frozen=True)
class Taint:
    """One ``spec.taints`` entry."""

    key: str
    effect: str
    value: str = ""

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True)
class KubeNode:
    """What discovery keeps of one Kubernetes Node.

    ``cpu`` is allocatable CPU in cores (``"3800m"`` -> 3.8), ``memory`` allocatable bytes
    (``"16Gi"`` -> 17179869184). ``ready`` is the Ready condition being "True"; ``unschedulable`` is
    ``spec.unschedulable`` (a cordon). ``control_plane`` comes from the node-role labels.
    """

    name: str
    cpu: float
    memory: int
    ready: bool = True
    ready_reason: str = ""
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()
    control_plane: bool = False
    zone: str | None = None
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def blocking_taints(self, tolerations: Sequence[Mapping[str, Any]] = ()) -> list[Taint]:
        """NoSchedule/NoExecute taints that none of ``tolerations`` (pod-spec form) tolerates."""
        return [
            t
            for t in self.taints
            if t.effect in BLOCKING_EFFECTS and not any(_tolerates(tol, t) for tol in tolerations)
        ]

    def schedulable(self, tolerations: Sequence[Mapping[str, Any]] = ()) -> bool:
        """New pods may land here: not cordoned and no untolerated NoSchedule/NoExecute taint."""
        return not self.unschedulable and not self.blocking_taints(tolerations)

    def metadata_value(self, key: str) -> str | None:
        """An annotation, else a label, named ``key`` (annotations win: they are the override knob)."""
        if key in self.annotations:
            return self.annotations[key]
        return self.labels.get(key)

    def default_slots(self) -> int:
        """Worker slots: the ``saga.parsl.org/slots`` override, else floor(allocatable CPU), at least 1."""
        raw = self.metadata_value(SLOTS_KEY)
        if raw is not None:
            try:
                slots = int(raw)
            except ValueError:
                raise InvalidQuantity.for_value(self.name, SLOTS_KEY, raw, "a positive integer") from None
            if slots < 1:
                raise InvalidQuantity.for_value(self.name, SLOTS_KEY, raw, "a positive integer")
            return slots
        return max(1, math.floor(self.cpu))

    def default_speed(self) -> float:
        """Relative speed: the ``saga.parsl.org/speed`` label/annotation, else 1.0."""
        raw = self.metadata_value(SPEED_KEY)
        if raw is None:
            return 1.0
        return positive_number(self.name, SPEED_KEY, raw)

    def bandwidth_cap(self) -> float | None:
        """The ``saga.parsl.org/bandwidth`` annotation/label in bytes/s, if set."""
        raw = self.metadata_value(BANDWIDTH_KEY)
        if raw is None:
            return None
        return positive_number(self.name, BANDWIDTH_KEY, raw)


def positive_number(node: str, key: str, raw: str) -> float:
    """Parse a Kubernetes quantity (plain numbers included) that must be finite and > 0."""
    try:
        value = float(parse_quantity(raw))
    except (ValueError, TypeError, ArithmeticError):
        raise InvalidQuantity.for_value(node, key, raw, "a positive number or Kubernetes quantity") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidQuantity.for_value(node, key, raw, "a positive number or Kubernetes quantity")
    return value


def _tolerates(toleration: Mapping[str, Any], taint: Taint) -> bool:
    """Kubernetes' toleration-matches-taint rule (core/v1 helper ToleratesTaint)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return bool(operator == "Exists")
    if key != taint.key:
        return False
    if operator == "Exists":
        return True
    return bool((toleration.get("value") or "") == taint.value)


def _quantity(node: str, field_name: str, raw: object) -> Decimal:
    try:
        return parse_quantity(raw)
    except (ValueError, TypeError, ArithmeticError):
        raise InvalidQuantity.for_value(
            node, field_name, raw, "a Kubernetes quantity such as '3800m' or '16Gi'"
        ) from None


def node_from_dict(obj: Mapping[str, Any]) -> KubeNode:
    """Build a :class:`KubeNode` from the JSON form of a v1 Node.

    Allocatable CPU/memory fall back to capacity when a node has not reported allocatable yet; a node
    with neither gets 0 CPU and memory (and is then filtered out with that reason).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = str(meta.get("name") or "")
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    allocatable = status.get("allocatable") or {}
    capacity = status.get("capacity") or {}

    cpu_raw = allocatable.get("cpu", capacity.get("cpu"))
    mem_raw = allocatable.get("memory", capacity.get("memory"))
    which = "allocatable" if "cpu" in allocatable else "capacity"
    cpu = float(_quantity(name, f"status.{which}.cpu", cpu_raw)) if cpu_raw is not None else 0.0
    which = "allocatable" if "memory" in allocatable else "capacity"
    memory = int(_quantity(name, f"status.{which}.memory", mem_raw)) if mem_raw is not None else 0

    ready, ready_reason = False, "no Ready condition reported"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            ready_reason = (
                ""
                if ready
                else f"Ready={cond.get('status')}"
                + (f" ({cond.get('reason')})" if cond.get("reason") else "")
            )
            break

    taints = tuple(
        Taint(key=str(t.get("key") or ""), effect=str(t.get("effect") or ""), value=str(t.get("value") or ""))
        for t in spec.get("taints") or []
    )
    return KubeNode(
        name=name,
        cpu=cpu,
        memory=memory,
        ready=ready,
        ready_reason=ready_reason,
        unschedulable=bool(spec.get("unschedulable", False)),
        taints=taints,
        control_plane=any(label in labels for label in CONTROL_PLANE_LABELS),
        zone=labels.get(ZONE_LABEL) or labels.get(LEGACY_ZONE_LABEL),
        region=labels.get(REGION_LABEL) or labels.get(LEGACY_REGION_LABEL),
        labels=labels,
        annotations=annotations,
    )


# --- label selectors -------------------------------------------------------------------------------
# The API server applies the selector; we apply it again client-side so that the result is the same
# against servers (and test doubles) that ignore it, and so that the syntax is checked before any call.

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


def _split_selector(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


class LabelSelector:
    """A parsed Kubernetes label selector (equality- and set-based, e.g. ``"tier=gpu,zone in (a,b)"``)."""

    def __init__(self, selector: str) -> None:
        self.text = selector
        self.requirements: list[_Requirement] = []
        if not selector.strip():
            return
        for part in _split_selector(selector):
            if m := _SET_RE.match(part):
                values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
                self.requirements.append(_Requirement(m["key"], m["op"], values))
            elif m := _EQ_RE.match(part):
                op = "notin" if m["op"] == "!=" else "in"
                self.requirements.append(_Requirement(m["key"], op, frozenset({m["value"]})))
            elif m := _EXISTS_RE.match(part):
                self.requirements.append(_Requirement(m["key"], "!exists" if m["neg"] else "exists"))
            else:
                raise InvalidLabelSelector(
                    f"label selector {selector!r}: cannot parse {part.strip()!r}; expected 'key=value', "
                    "'key!=value', 'key in (a,b)', 'key notin (a,b)', 'key' or '!key'"
                )

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({self.text!r})"
