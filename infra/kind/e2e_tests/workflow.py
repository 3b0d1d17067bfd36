"""The data-heavy e2e workflow: its DAG, the task body the workers run, and the network it is planned on.

Why a module of its own: workers in other namespaces (or pods) import the task body by name, so it must
live in an importable module, not a test file; and the three tiers (namespaces, kubelet-emulated pods,
kind) run the same workflow so their results are comparable.

Shape (HEAVY = 4 MiB, every heavy output is consumed by tasks that cannot all share its node, so a task
with heavy input or output on the slow node forces megabytes across the slow link)::

    ingest --HEAVY--> transform_0..5 --HEAVY--> combine_0..2 --small--> summary
    light_0..3 (independent, compute only: work the slow node can do without hurting anyone)
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

# Only the driver builds Stages: the workers import this module (for stage_task) and have no repo_support.
if TYPE_CHECKING:
    from repo_support.stages import Stage

HEAVY = 4 * 1024 * 1024
SMALL = 1024


def stages(transforms: int = 6, combines: int = 3, lights: int = 4) -> list[Stage]:
    """The workflow's tasks in a topological order."""
    from repo_support.stages import Stage

    if transforms % combines:
        raise ValueError(f"transforms ({transforms}) must be a multiple of combines ({combines})")
    out = [Stage("ingest", 0.3, HEAVY)]
    out += [Stage(f"transform_{i}", 0.6, HEAVY, ("ingest",)) for i in range(transforms)]
    per = transforms // combines
    out += [
        Stage(f"combine_{j}", 0.3, SMALL, tuple(f"transform_{i}" for i in range(j * per, (j + 1) * per)))
        for j in range(combines)
    ]
    out.append(Stage("summary", 0.2, SMALL, tuple(f"combine_{j}" for j in range(combines))))
    out += [Stage(f"light_{k}", 1.5, SMALL) for k in range(lights)]
    return out


def heavy_edges(workflow: list[Stage]) -> list[tuple[str, str]]:
    """(parent, child) pairs that move HEAVY bytes."""
    by_name = {s.name: s for s in workflow}
    return [(p, s.name) for s in workflow for p in s.parents if by_name[p].out_bytes >= HEAVY]


def network_spec(
    nodes: list[str], slow: str | None, *, slots: int = 2, fast_bps: float = 1.25e8, slow_bps: float = 2.5e6
) -> dict[str, Any]:
    """The contract's network spec for a star of namespaces: every pair through ``slow`` is slow.

    ``slow_bps`` must match the tbf shaping the test applies (20 Mbit/s = 2.5e6 bytes/s); ``fast_bps``
    is a conservative 1 Gbit/s for unshaped veths.
    """
    links = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            links.append({"source": a, "target": b, "bandwidth": slow_bps if slow in (a, b) else fast_bps})
    return {
        "nodes": [{"name": n, "slots": slots, "speed": 1.0} for n in nodes],
        "links": links,
        "default_bandwidth": fast_bps,
    }


def stage_task(
    task: str,
    witness: tuple[str, int],
    seconds: float,
    out_bytes: int,
    *parents: Any,
    parsl_resource_specification: dict[str, Any] | None = None,
) -> dict[str, object]:
    """The body every e2e task runs on a worker.

    ``parsl_resource_specification`` must be in the signature for Parsl to accept a per-call placement;
    the executor consumes it, the body ignores it.

    Reports to the driver's witness first (the TCP peer address proves where it runs), checks its parents' data
    arrived whole, sleeps ``seconds`` and returns ``out_bytes`` of payload plus what it observed.
    """
    from e2e_tests.witness import report

    node = _claimed_node()
    local_address = report(witness, task, node)
    started = time.time()
    sizes = [len(i["payload"]) if isinstance(i, dict) else len(i) for i in parents]
    time.sleep(seconds)
    return {
        "task": task,
        "node": node,
        "local_address": local_address,
        "input_sizes": sizes,
        "start": started,
        "end": time.time(),
        "payload": bytes(out_bytes),
    }


def _claimed_node() -> str:
    """The node name this worker believes it is on (the claim the witness checks)."""
    try:
        from parsl_affinity_htex import current_node
    except ImportError:  # stock worker pools in the comparison run
        return os.environ.get("E2E_NODE", "")
    try:
        return str(current_node())
    except Exception:  # stock pool: no node name registered
        return os.environ.get("E2E_NODE", "")
