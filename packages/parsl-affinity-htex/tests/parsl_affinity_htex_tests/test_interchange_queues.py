"""The affinity interchange's queueing policy, on a real AffinityInterchange object.

The interchange is constructed for real (its ZeroMQ sockets connect to sockets this test binds, as the executor
would); the test then drives its queue methods directly and reads failure reports from the real results socket.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from parsl.executors.high_throughput.manager_selector import RandomManagerSelector
from parsl.serialize import deserialize

from parsl_affinity_htex import NodeUnavailable
from parsl_affinity_htex._spec import AFFINITY_CONTEXT_KEY
from parsl_affinity_htex.interchange import AffinityInterchange


class Harness:
    def __init__(self, ic: AffinityInterchange, tasks: zmq.Socket, results: zmq.Socket) -> None:
        self.ic = ic
        self.tasks = tasks
        self.results = results

    def deliver(self, msg: dict[str, Any]) -> None:
        """Send a task message the way the executor does and let the interchange read it."""
        self.tasks.send_pyobj(msg)
        assert self.ic.task_incoming.poll(5000), "task message did not arrive"
        self.ic.socks = {self.ic.task_incoming: zmq.POLLIN}
        self.ic.process_task_incoming()

    def add(
        self, task_id: int, node: str | None = None, hard: bool = False, priority: float = math.inf
    ) -> None:
        context: dict[str, Any] = {"resource_spec": {"priority": priority}} if priority != math.inf else {}
        if node is not None:
            context[AFFINITY_CONTEXT_KEY] = (node, hard)
        entry = (-priority, -task_id, {"task_id": task_id, "context": context, "buffer": b""})
        if node is None:
            self.ic.pending_task_queue.add(entry)
        else:
            self.ic._enqueue_tagged(node, entry)

    def failures(self, expected: int, timeout_s: float = 5.0) -> dict[int, BaseException]:
        found: dict[int, BaseException] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < expected and time.monotonic() < deadline:
            if self.results.poll(100):
                msg = pickle.loads(self.results.recv())
                found[msg["task_id"]] = deserialize(msg["exception"])
        return found


@pytest.fixture
def harness(tmp_path: Any) -> Iterator[Harness]:
    ctx = zmq.Context()
    sockets = [ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER), ctx.socket(zmq.REQ)]
    ports = tuple(s.bind_to_random_port("tcp://127.0.0.1") for s in sockets)
    ic = AffinityInterchange(
        affinity_grace_period=5.0,
        client_address="127.0.0.1",
        interchange_address="127.0.0.1",
        client_ports=ports,
        worker_port=None,
        worker_port_range=(54000, 55000),
        hub_address=None,
        hub_zmq_port=None,
        heartbeat_threshold=10,
        logdir=str(tmp_path),
        logging_level=logging.INFO,
        poll_period=10,
        cert_dir=None,
        manager_selector=RandomManagerSelector(),
        run_id="unit",
        log_config=None,
        _check_python_mismatch=True,
    )
    try:
        yield Harness(ic, sockets[0], sockets[1])
    finally:
        ic.zmq_context.destroy(linger=0)
        for s in sockets:
            s.close(linger=0)
        ctx.term()


def ids(tasks: list[dict[str, Any]]) -> list[int]:
    return [t["task_id"] for t in tasks]


def test_node_queue_and_shared_queue_merge_in_priority_order(harness: Harness) -> None:
    harness.add(1, priority=5)
    harness.add(2, node="n1", priority=1)
    harness.add(3, node="n1", priority=5)  # ties with task 1: lower task id first
    harness.add(4)  # no priority: last
    harness.add(5, node="n2", priority=0)  # other node: never given to n1
    harness.add(6, node="n1", priority=-2)
    assert ids(harness.ic._pop_for("n1", 10)) == [6, 2, 1, 3, 4]
    assert ids(harness.ic._pop_for("n2", 10)) == [5]
    assert harness.ic._tagged_queued == 0


def test_pop_respects_capacity(harness: Harness) -> None:
    for tid in range(1, 6):
        harness.add(tid, node="n1", priority=tid)
    assert ids(harness.ic._pop_for("n1", 2)) == [1, 2]
    assert ids(harness.ic._pop_for("n1", 2)) == [3, 4]
    assert harness.ic._tagged_queued == 1


def test_nothing_moves_within_the_grace_period(harness: Harness) -> None:
    harness.add(1, node="gone", hard=False)
    harness.add(2, node="gone", hard=True)
    harness.ic._apply_fallback(time.time())  # node unseen since start (just now) < 5 s grace
    assert harness.ic._tagged_queued == 2
    assert harness.failures(0, timeout_s=0.3) == {}


def test_after_the_grace_period_soft_tasks_move_and_hard_tasks_fail(harness: Harness) -> None:
    harness.add(1, node="gone", hard=False, priority=2)
    harness.add(2, node="gone", hard=True)
    harness.add(3, node="gone", hard=False, priority=1)
    harness.ic._apply_fallback(time.time() + 5.01)
    assert harness.ic._tagged_queued == 0
    # soft tasks now run anywhere, still in priority order
    assert ids(harness.ic._pop_for("some-other-node", 10)) == [3, 1]
    failed = harness.failures(1)
    assert list(failed) == [2]
    assert isinstance(failed[2], NodeUnavailable)
    assert failed[2].node == "gone"
    assert "grace period 5s" in str(failed[2])


def _manager(node: str, tasks: list[int]) -> Any:
    return {
        "node_name": node,
        "hostname": "h",
        "tasks": tasks,
        "active": True,
        "draining": False,
        "worker_count": 2,
        "max_capacity": 2,
        "last_heartbeat": 0.0,
        "idle_since": None,
    }


def test_lost_pool_requeues_soft_tasks_and_fails_hard_ones(harness: Harness) -> None:
    ic = harness.ic
    harness.add(1, node="n1", hard=False)
    harness.add(2, node="n1", hard=True)
    ic._ready_managers[b"m1"] = _manager("n1", [])
    ic._refresh_nodes(time.time())
    sent = ic._pop_for("n1", 2)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(sent))
    ic._rescue_tasks(b"m1", ic._ready_managers[b"m1"])
    assert ic._ready_managers[b"m1"]["tasks"] == []  # nothing left for upstream's ManagerLost
    assert ids(list(e[2] for e in ic._node_queues["n1"])) == [1]  # soft: back on its node's queue
    failed = harness.failures(1)
    assert isinstance(failed[2], NodeUnavailable) and "lost its worker pool" in str(failed[2])
    # a second loss of the same soft task is left to upstream (ManagerLost), so a task killing its pool can't loop
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._rescue_tasks(b"m1", ic._ready_managers[b"m1"])
    assert ic._ready_managers[b"m1"]["tasks"] == [1]


def test_nodes_report_counts_live_pools_and_slots(harness: Harness) -> None:
    ic = harness.ic
    ic._ready_managers[b"m1"] = _manager("n1", [])
    ic._ready_managers[b"m2"] = _manager("n1", [])
    ic._ready_managers[b"m3"] = _manager("n2", [])
    ic._ready_managers[b"m3"]["active"] = False  # held: not live
    harness.add(9, node="n1")
    report = ic.nodes_report()
    assert report == {"n1": {"slots": 4, "pools": 2, "managers": ["m1", "m2"], "queued": 1}}


def test_non_numeric_priority_fails_the_task_not_the_interchange(harness: Harness) -> None:
    """Upstream's interchange dies on this; the executor rejects it earlier, submit_payload users cannot."""
    harness.deliver({"task_id": 1, "context": {"resource_spec": {"priority": "high"}}, "buffer": b""})
    harness.deliver({"task_id": 2, "context": {AFFINITY_CONTEXT_KEY: ("n1", True)}, "buffer": b""})
    failed = harness.failures(1)
    assert "'priority' must be a number, got 'high'" in str(failed[1])
    assert ids(harness.ic._pop_for("n1", 5)) == [2]
