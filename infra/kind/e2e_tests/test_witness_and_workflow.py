"""The proof machinery itself (no root needed): the witness records the network's word, not the claim,
and a run whose claims disagree with the addresses is reported as a mismatch."""

from __future__ import annotations

import threading

import pytest

from e2e_tests.runner import WorkflowRun
from e2e_tests.witness import Sighting, Witness, report
from e2e_tests.workflow import HEAVY, heavy_edges, network_spec, stages


def test_witness_records_peer_address_separately_from_the_claim() -> None:
    with Witness("127.0.0.1") as witness:
        threads = [
            threading.Thread(target=report, args=(witness.address, f"t{i}", "node-z")) for i in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        seen = sorted(witness.sightings(), key=lambda s: s.task)
    assert [s.task for s in seen] == [f"t{i}" for i in range(5)]
    assert all(s.peer_address == "127.0.0.1" and s.claimed_node == "node-z" for s in seen)


def test_mismatch_is_reported_when_the_address_contradicts_plan_and_claim() -> None:
    addresses = {"10.1.1.2": "node-a", "10.1.1.3": "node-b"}
    run = WorkflowRun(
        makespan=1.0,
        results={"x": {"node": "node-a"}, "y": {"node": "node-b"}},
        sightings={
            "x": [Sighting("x", "10.1.1.2", "node-a", "10.1.1.2", 1.0)],
            # y claims node-b (its plan) but connected from node-a's address: the network wins.
            "y": [Sighting("y", "10.1.1.2", "node-b", "10.1.1.3", 1.0)],
        },
        planned={"x": "node-a", "y": "node-b"},
    )
    assert run.mismatches(addresses.get) == {"y": ("node-b", "node-a")}


def test_retried_task_counts_where_it_last_ran() -> None:
    addresses = {"10.1.1.2": "node-a", "10.1.1.3": "node-b"}
    run = WorkflowRun(
        makespan=1.0,
        results={"x": {"node": "node-b"}},
        sightings={
            "x": [Sighting("x", "10.1.1.2", "node-a", "", 1.0), Sighting("x", "10.1.1.3", "node-b", "", 2.0)]
        },
        planned={"x": "node-b"},
    )
    assert run.ran_on(addresses.get) == {"x": "node-b"} and run.mismatches(addresses.get) == {}


def test_workflow_is_data_heavy_and_declares_the_slow_links() -> None:
    workflow = stages()
    names = [s.name for s in workflow]
    assert len(names) == len(set(names)) == 15
    assert all(p in names[: names.index(s.name)] for s in workflow for p in s.parents)  # topological
    heavy = heavy_edges(workflow)
    assert len(heavy) == 12 and all(p.startswith(("ingest", "transform")) for p, _ in heavy)
    spec = network_spec(["a", "b", "c"], "c", slow_bps=2.5e6)
    bandwidth = {frozenset((link["source"], link["target"])): link["bandwidth"] for link in spec["links"]}
    assert bandwidth == {frozenset("ab"): 1.25e8, frozenset("ac"): 2.5e6, frozenset("bc"): 2.5e6}
    assert HEAVY / 2.5e6 > 1.0  # one heavy transfer over the slow link costs more than any task's compute
    with pytest.raises(ValueError, match="multiple of combines"):
        stages(transforms=5, combines=3)
