"""With Parsl monitoring on, the affinity interchange reports pools as often as stock HTEx does.

While tagged tasks waited for a busy node, every dispatch pass used to send a NODE_INFO message (with the
pool's whole package list) for every idle pool: 1,000 passes, 1,000 messages and 2.2 MiB of interchange log,
where stock HTEx sends none. Here the same workload runs on stock HTEx and on the affinity executor, each
with a real MonitoringHub writing sqlite, and the ``node`` rows are counted. Real processes, nothing mocked.
"""

from __future__ import annotations

import shlex
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import parsl
import pytest
from parsl import python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
from parsl.monitoring import MonitoringHub
from parsl.providers import LocalProvider

from parsl_affinity_htex import child_pythonpath
from repo_support.waiting import wait_until

from .conftest import STARTUP_TIMEOUT_S, cleanup_with_deadline, running_cluster

pytestmark = pytest.mark.timeout(600)

TASKS = 8
NAP_S = 0.4


@python_app
def nap(seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> float:  # noqa: B006
    import time

    time.sleep(seconds)
    return seconds


def _node_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM node").fetchone()
    return int(count)


def _hub(db: Path) -> MonitoringHub:
    return MonitoringHub(logging_endpoint=f"sqlite:///{db}", resource_monitoring_enabled=False)


def _stock_rows(tmp: Path) -> int:
    db = tmp / "stock.db"
    executor = HighThroughputExecutor(
        label=f"stock-{uuid.uuid4().hex[:6]}",
        address="127.0.0.1",
        encrypted=False,
        # upstream's defaults run scripts from PATH, which a test venv may not have on it; a given launch_cmd
        # is used as is, so it carries our import path itself (the workers import this module's `nap`)
        interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
        launch_cmd=f"env PYTHONPATH={shlex.quote(child_pythonpath())} {sys.executable} -m "
        "parsl.executors.high_throughput.process_worker_pool " + DEFAULT_LAUNCH_CMD.split(" ", 1)[1],
        max_workers_per_node=1,
        heartbeat_period=1,
        heartbeat_threshold=6,
        provider=LocalProvider(init_blocks=3, min_blocks=3, max_blocks=3),
    )
    dfk = parsl.load(
        Config(executors=[executor], strategy="none", run_dir=str(tmp / "stock"), monitoring=_hub(db))
    )
    try:
        wait_until(lambda: len(executor.connected_managers()) == 3, STARTUP_TIMEOUT_S, "3 stock pools")
        assert [f.result(timeout=120) for f in [nap(NAP_S) for _ in range(TASKS)]] == [NAP_S] * TASKS
    finally:
        cleanup_with_deadline(dfk, 90)
        parsl.clear()
    return _node_rows(db)


def test_node_info_rows_stay_within_twice_stock_htex(tmp_path: Path) -> None:
    stock = _stock_rows(tmp_path)
    db = tmp_path / "affinity.db"
    nodes = {"node-a": 1, "node-b": 1, "node-c": 1}
    with running_cluster(
        tmp_path / "affinity", nodes, config_options={"monitoring": _hub(db)}, encrypted=False
    ) as cluster:
        # every task pinned to node-c: the other two pools idle while tagged tasks wait (the old flood)
        futures = [
            nap(NAP_S, parsl_resource_specification={"node": "node-c", "affinity": "hard"})
            for _ in range(TASKS)
        ]
        assert [f.result(timeout=120) for f in futures] == [NAP_S] * TASKS
        cleanup_with_deadline(cluster.dfk, 90)
    ours = _node_rows(db)
    assert stock > 0
    assert ours <= 2 * stock, f"NODE_INFO rows: affinity {ours} vs stock {stock}"
