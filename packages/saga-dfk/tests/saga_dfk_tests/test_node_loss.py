"""Losing a node mid-run on real pools: node-c's pool process group is SIGKILLed while tasks run.

Real interchange and worker pools (parsl_affinity_htex.LocalVirtualCluster), real SAGA. Tasks planned
on the lost node that had not started are re-planned on the remaining nodes; none is lost or hangs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from repo_support.waiting import wait_until

from .conftest import make_apps, start_kernel, stop_kernel

NODES = {"node-a": 1, "node-b": 1, "node-c": 1}


@pytest.mark.timeout(400)
def test_killing_a_pool_replans_its_tasks(tmp_path: Any) -> None:
    apps = make_apps()
    dfk, provider = start_kernel(tmp_path, NODES, planning="explicit", report_path=str(tmp_path / "run.json"))
    try:
        chains: list[list[Any]] = []
        for _ in range(3):
            chain: list[Any] = []
            for _ in range(6):
                chain.append(apps.node_task(*chain[-1:], seconds=0.6))
            chains.append(chain)
        dfk.execute()
        planned_on_c = [f for chain in chains for f in chain if dfk.saga_assignments[f.tid].node == "node-c"]
        assert planned_on_c, "the plan should use node-c (3 chains on 3 one-slot nodes)"
        wait_until(lambda: sum(f.done() for chain in chains for f in chain) >= 3, 120, "3 finished tasks")
        provider.kill_node("node-c")
        killed_at = time.time()
        results = [[f.result(timeout=180) for f in chain] for chain in chains]
        assert [[v for _, v in chain] for chain in results] == [[1, 2, 3, 4, 5, 6]] * 3
        report = dfk.run_report()
    finally:
        stop_kernel(dfk, provider)
    rows = {row["id"]: row for row in report["tasks"]}
    replanned = report["replanned_tasks"]
    assert replanned, "tasks planned on node-c must have been re-planned"
    # a loss re-plans every task not dispatched yet: those on node-c move off it, others may move too
    assert any(m["from"] == "node-c" for tid in replanned for m in rows[tid]["replanned"])
    for tid in replanned:
        row = rows[tid]
        assert row["planned"]["node"] != "node-c"
        assert row["actual"]["node"] == row["planned"]["node"]
    # everything that was planned on node-c either finished there before the kill or was re-planned
    t0 = report["t0"]
    for fut in planned_on_c:
        row = rows[fut.tid]
        if fut.tid not in replanned:
            assert row["actual"]["node"] == "node-c"
            assert row["actual"]["end"] + t0 <= killed_at + 1.0
    assert "node-c" in report["lost_nodes"] or any(rows[t]["replanned"] for t in replanned)
    written = (tmp_path / "run.json").read_text()
    assert '"replanned_tasks"' in written
