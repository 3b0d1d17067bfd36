"""Run the e2e workflow on a loaded Parsl DFK and check where every task really ran.

Why shared: the namespace tier, the kubelet-emulated Kubernetes tier and the in-cluster kind driver all
submit the same apps and apply the same proof (the witness's TCP peer address mapped back to a node), so a
regression in routing shows up the same way in each.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import parsl
from parsl import python_app

from e2e_tests.witness import Sighting, Witness
from e2e_tests.workflow import stage_task
from repo_support.stages import Stage, gather_results

if TYPE_CHECKING:
    import saga_graphs

log = logging.getLogger(__name__)


@dataclass
class WorkflowRun:
    """Outcome of one workflow run: results, where tasks were seen, and the driver-side makespan."""

    makespan: float
    results: dict[str, dict[str, Any]]
    sightings: dict[str, list[Sighting]]
    planned: dict[str, str] = field(default_factory=dict)

    def ran_on(self, address_to_node: Callable[[str], str | None]) -> dict[str, str | None]:
        """Node of each task's *last* sighting (a retried task is seen once per try), by peer address."""
        return {task: address_to_node(seen[-1].peer_address) for task, seen in self.sightings.items()}

    def mismatches(self, address_to_node: Callable[[str], str | None]) -> dict[str, tuple[str, str | None]]:
        """Tasks whose proven node differs from the planned one: task -> (planned, proven)."""
        proven = self.ran_on(address_to_node)
        return {t: (n, proven.get(t)) for t, n in self.planned.items() if proven.get(t) != n}

    def summary(self) -> dict[str, Any]:
        """Small JSON-able digest (no payloads) for logs and the kind result line."""
        return {
            "tasks": len(self.results),
            "makespan_s": round(self.makespan, 3),
            "planned": dict(self.planned),
            "claimed": {t: r["node"] for t, r in self.results.items()},
        }


def submit_workflow(
    workflow: list[Stage],
    witness: Witness,
    *,
    executor_label: str,
    placement: Mapping[str, str] | None = None,
    affinity: str = "hard",
    costs: saga_graphs.DeclaredCostModel | None = None,
) -> dict[str, Any]:
    """Submit every stage as a python_app on ``executor_label``; returns task name -> AppFuture.

    ``placement`` (task -> node) becomes the affinity executor's resource specification; None submits
    with an empty specification (stock HTEx, or a SagaDataFlowKernel that plans by itself). ``costs``
    (a SagaDataFlowKernel's cost model) gets each stage's seconds and output bytes declared under the
    task id its future really got, right after submitting it and before ``dfk.execute()`` plans it.
    """
    app = python_app(stage_task, executors=[executor_label])
    futures: dict[str, Any] = {}
    for stage in workflow:
        spec: dict[str, Any] = {}
        if placement is not None:
            spec = {"node": placement[stage.name], "affinity": affinity}
        futures[stage.name] = app(
            stage.name,
            witness.address,
            stage.seconds,
            stage.out_bytes,
            *[futures[p] for p in stage.parents],
            parsl_resource_specification=spec,
        )
        if costs is not None:
            costs.declare(futures[stage.name].tid, cost=stage.seconds, output_size=float(stage.out_bytes))
    return futures


def warm_up(
    executor_label: str,
    witness: Witness,
    nodes: Sequence[str],
    slots: int,
    *,
    saga: bool = True,
    timeout: float = 120,
) -> None:
    """Run one trivial task per worker slot on every node so worker start-up is not part of a makespan.

    Pinned with hard affinity and (under saga_dfk, ``saga=True``) opted out of planning.
    """
    app = python_app(stage_task, executors=[executor_label])
    futures = []
    for node in nodes:
        for slot in range(slots):
            spec: dict[str, Any] = {"node": node, "affinity": "hard"}
            if saga:
                spec["saga_plan"] = False
            futures.append(
                app(f"warmup-{node}-{slot}", witness.address, 0.5, 0, parsl_resource_specification=spec)
            )
    for future in futures:
        future.result(timeout=timeout)


def collect(
    workflow: list[Stage], futures: Mapping[str, Any], witness: Witness, *, started: float, timeout: float
) -> WorkflowRun:
    """Wait for every future (raising the first task error), check inputs arrived whole, gather proof."""
    results = gather_results(workflow, futures, timeout)
    makespan = time.time() - started
    sightings: dict[str, list[Sighting]] = {}
    for s in sorted(witness.sightings(), key=lambda s: s.received_at):
        sightings.setdefault(s.task, []).append(s)
    missing = sorted(set(futures) - set(sightings))
    if missing:
        raise AssertionError(f"the witness never saw tasks {missing}")
    log.info("e2e.workflow_done tasks=%s makespan_s=%s", len(results), round(makespan, 3))
    return WorkflowRun(makespan=makespan, results=results, sightings=sightings)


@contextlib.contextmanager
def parsl_session(config: Any, loader: Callable[[Any], Any] = parsl.load) -> Iterator[Any]:
    """Load a DFK and always clean it up and unregister it, even when the test body failed."""
    dfk = loader(config)
    try:
        yield dfk
    finally:
        try:
            dfk.cleanup()
        finally:
            parsl.clear()
