"""The affinity interchange's queueing policy, on a real AffinityInterchange object.

The interchange is constructed for real (its ZeroMQ sockets connect to sockets this test binds, as the executor
would); the test then drives its queue methods directly and reads failure reports from the real results socket.
"""

from __future__ import annotations

import contextlib
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

from parsl_affinity_htex._spec import AFFINITY_CONTEXT_KEY
from parsl_affinity_htex.errors import AffinitySpecError, NodeUnavailable
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
            self.ic._enqueue_tagged(node, entry, hard)

    def failures(self, expected: int, timeout_s: float = 5.0) -> dict[int, BaseException]:
        found: dict[int, BaseException] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < expected and time.monotonic() < deadline:
            if self.results.poll(100):
                msg = pickle.loads(self.results.recv())
                found[msg["task_id"]] = deserialize(msg["exception"])
        return found


@contextlib.contextmanager
def started_harness(tmp_path: Any, **options: Any) -> Iterator[Harness]:
    """A real AffinityInterchange connected to sockets bound here, as the executor's would be."""
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
        **options,
    )
    try:
        yield Harness(ic, sockets[0], sockets[1])
    finally:
        ic.zmq_context.destroy(linger=0)
        for s in sockets:
            s.close(linger=0)
        ctx.term()


@pytest.fixture
def harness(tmp_path: Any) -> Iterator[Harness]:
    with started_harness(tmp_path) as h:
        yield h


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
    harness.ic._apply_fallback(time.time())  # node expected since its first task (just now) < 5 s grace
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
        "block_id": f"b-{node}",
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
    sent = ic._pop_for("n1", 2)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(sent))
    ic._rescue_tasks(b"m1", ic._ready_managers[b"m1"], {b"m1"}, time.time())
    assert ic._ready_managers[b"m1"]["tasks"] == []  # nothing left for upstream's ManagerLost
    assert ids(list(e[2] for e in ic._node_queues["n1"])) == [1]  # soft: back on its node's queue
    failed = harness.failures(1)
    assert isinstance(failed[2], NodeUnavailable) and "lost its worker pool" in str(failed[2])
    # a second loss of the same soft task is left to upstream (ManagerLost), so a task killing its pool can't loop
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._rescue_tasks(b"m1", ic._ready_managers[b"m1"], {b"m1"}, time.time())
    assert ic._ready_managers[b"m1"]["tasks"] == [1]


def test_nodes_report_counts_live_pools_and_slots(harness: Harness) -> None:
    ic = harness.ic
    ic._ready_managers[b"m1"] = _manager("n1", [])
    ic._ready_managers[b"m2"] = _manager("n1", [])
    ic._ready_managers[b"m3"] = _manager("n2", [])
    ic._ready_managers[b"m3"]["active"] = False  # held: not live
    harness.add(9, node="n1")
    report = ic.nodes_report()
    assert report == {
        "n1": {
            "slots": 4,
            "pools": 2,
            "managers": ["m1", "m2"],
            "blocks": ["b-n1"],
            "stores": [],
            "queued": 1,
        }
    }


def test_non_numeric_priority_fails_the_task_not_the_interchange(harness: Harness) -> None:
    """Upstream's interchange dies on this; the executor rejects it earlier, submit_payload users cannot."""
    harness.deliver({"task_id": 1, "context": {"resource_spec": {"priority": "high"}}, "buffer": b""})
    harness.deliver({"task_id": 2, "context": {AFFINITY_CONTEXT_KEY: ("n1", True)}, "buffer": b""})
    failed = harness.failures(1)
    assert "'priority' must be a number, got 'high'" in str(failed[1])
    assert ids(harness.ic._pop_for("n1", 5)) == [2]


class RecordingRadio:
    """Stands in for upstream's monitoring radio: records what the interchange sends (NODE_INFO messages)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


def test_a_zero_worker_pool_is_not_live_gets_no_task_and_is_reported(harness: Harness) -> None:
    """cores_per_worker larger than the node gives a pool 0 workers (and prefetch may still give it capacity):
    it must not count as its node's live pool nor receive a task. Before, it counted as live for ever and its
    node's tasks hung."""
    ic = harness.ic
    empty: Any = {**_manager("n0", []), "worker_count": 0, "max_capacity": 2}
    ic._ready_managers[b"m0"] = empty
    harness.add(1, node="n0", hard=True)
    interesting = {b"m0"}
    ic.process_tasks_to_send(interesting, None)
    assert ic._ready_managers[b"m0"]["tasks"] == []
    assert ic.nodes_report() == {}
    assert ic.stats_report()["zero_worker_pools"] == ["m0@n0"]
    ic._apply_fallback(time.time() + 5.01)
    assert isinstance(harness.failures(1)[1], NodeUnavailable)


def test_expiry_is_decided_once_per_pass(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool crossing the heartbeat threshold between two clock readings was expired by upstream without our
    rescue (its soft task came back as ManagerLost). The clock here moves 1 s at every reading."""
    ic = harness.ic
    clock = iter(range(10_000))
    t0 = time.time()
    record = _manager("n1", [])
    ic._ready_managers[b"m1"] = record
    harness.add(1, node="n1", hard=False)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._ready_managers[b"m1"]["last_heartbeat"] = t0 - ic.heartbeat_threshold + 0.5
    monkeypatch.setattr(time, "time", lambda: t0 + next(clock))
    ic.expire_bad_managers(set(), None)
    # the pool is either kept (not yet expired) or expired and its task rescued: never ManagerLost
    assert harness.failures(1, timeout_s=0.5) == {}
    if b"m1" not in ic._ready_managers:
        assert ids([e[2] for e in ic._node_queues["n1"]]) == [1]
    else:
        assert ic._ready_managers[b"m1"]["tasks"] == [1]


def test_two_pools_of_one_node_lost_in_one_pass_are_one_node_loss(harness: Harness) -> None:
    """Each used to see the other as live, so their hard tasks were re-queued and failed only a grace later."""
    ic = harness.ic
    ic._ready_managers[b"m1"] = _manager("n1", [])
    ic._ready_managers[b"m2"] = _manager("n1", [])
    harness.add(1, node="n1", hard=True)
    harness.add(2, node="n1", hard=True)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._ready_managers[b"m2"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    for mid in (b"m1", b"m2"):
        ic._ready_managers[mid]["last_heartbeat"] = time.time() - ic.heartbeat_threshold - 1
    ic.expire_bad_managers(set(), None)
    failed = harness.failures(2)
    assert sorted(failed) == [1, 2]
    assert all(isinstance(e, NodeUnavailable) for e in failed.values())
    assert ic._tagged_queued == 0 and ic.nodes_report() == {}


def test_a_rescued_hard_task_fails_when_its_node_loses_its_last_pool_later(harness: Harness) -> None:
    """Pools' heartbeats are out of phase, so two pools of a node usually expire in different passes: the
    first one's hard task was re-queued onto the sibling and then waited a whole grace period in vain."""
    ic = harness.ic
    ic._ready_managers[b"m1"] = _manager("n1", [])
    ic._ready_managers[b"m2"] = {**_manager("n1", []), "max_capacity": 1, "last_heartbeat": time.time()}
    harness.add(1, node="n1", hard=True)
    harness.add(2, node="n1", hard=True)
    harness.add(3, node="n1", hard=True)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._ready_managers[b"m2"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._ready_managers[b"m1"]["last_heartbeat"] = time.time() - ic.heartbeat_threshold - 1
    ic.expire_bad_managers(set(), None)  # m2 still live: task 1 goes back to n1's queue
    assert harness.failures(1, timeout_s=0.3) == {}
    ic._ready_managers[b"m2"]["last_heartbeat"] = time.time() - ic.heartbeat_threshold - 1
    ic.expire_bad_managers(set(), None)
    failed = harness.failures(2)
    assert sorted(failed) == [1, 2] and all(isinstance(e, NodeUnavailable) for e in failed.values())
    assert ids([e[2] for e in ic._node_queues["n1"]]) == [3]  # never ran: waits the grace period as usual


@pytest.mark.parametrize(
    "affinity",
    [("n1", True, "extra"), (["n1"], True), ("n1", "yes"), ("", False), "n1", 42],
    ids=["three-items", "unhashable-node", "non-bool-mode", "empty-node", "bare-string", "int"],
)
def test_a_malformed_affinity_fails_that_task_alone(harness: Harness, affinity: Any) -> None:
    """Such a value raised in the main loop and killed the interchange for every task of the run."""
    harness.deliver({"task_id": 1, "context": {AFFINITY_CONTEXT_KEY: affinity}, "buffer": b""})
    harness.deliver({"task_id": 2, "context": {AFFINITY_CONTEXT_KEY: ("n1", True)}, "buffer": b""})
    failed = harness.failures(1)
    assert isinstance(failed[1], AffinitySpecError), failed
    assert "affinity must be" in str(failed[1])
    assert ids(harness.ic._pop_for("n1", 5)) == [2]


def test_an_unreadable_task_message_is_dropped_without_killing_the_loop(harness: Harness) -> None:
    harness.deliver({"no": "task id"})  # type: ignore[arg-type]
    harness.deliver({"task_id": 3, "context": None, "buffer": b""})
    assert isinstance(harness.failures(1)[3], AffinitySpecError)


def test_a_soft_task_waiting_a_grace_on_a_busy_node_is_stolen_by_an_idle_one(harness: Harness) -> None:
    ic = harness.ic
    ic._ready_managers[b"busy"] = {**_manager("n1", []), "max_capacity": 1, "worker_count": 1}
    ic._ready_managers[b"idle"] = _manager("n2", [])
    t0 = time.time()
    harness.add(1, node="n1", hard=True)  # occupies n1
    ic._ready_managers[b"busy"]["tasks"].extend(ids(ic._pop_for("n1", 1, t0)))
    ic._enqueue_tagged(
        "n1", (-math.inf, -2, {"task_id": 2, "context": {AFFINITY_CONTEXT_KEY: ("n1", False)}}), False, t0
    )
    ic._enqueue_tagged(
        "n1", (-math.inf, -3, {"task_id": 3, "context": {AFFINITY_CONTEXT_KEY: ("n1", True)}}), True, t0
    )
    assert ids(ic._pop_for("n2", 2, t0 + 4.9)) == []  # within the grace period it waits for its node
    assert ids(ic._pop_for("n2", 2, t0 + 5.0)) == [2]  # soft: stolen; hard: never
    assert ic.stats_report()["stolen"] == 1
    assert ids(ic._pop_for("n1", 2, t0 + 6)) == [3]


def test_a_never_seen_node_is_timed_from_when_it_is_expected(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was timed from interchange start: a pool registering 40 s after start had its hard tasks failed at once."""
    later = time.time() + 40
    monkeypatch.setattr(time, "time", lambda: later)
    harness.add(1, node="late", hard=True)
    harness.ic._apply_fallback(later + 4.9)
    assert harness.failures(1, timeout_s=0.3) == {}
    harness.ic._ready_managers[b"m-late"] = _manager("late", [])
    assert ids(harness.ic._pop_for("late", 2)) == [1]


def test_monitoring_info_is_sent_only_when_tasks_are_sent(harness: Harness) -> None:
    """Idle managers were reported on every pass while tagged tasks waited for a busy node (1,000 passes sent
    1,000 NODE_INFO messages with the whole package list); upstream sends one per dispatch."""
    ic = harness.ic
    radio = RecordingRadio()
    ic._ready_managers[b"idle"] = _manager("n2", [])
    harness.add(1, node="n1", hard=True)  # waits for n1, which has no pool
    interesting = {b"idle"}
    for _ in range(1000):
        ic.process_tasks_to_send(interesting, radio)  # type: ignore[arg-type]
    assert radio.sent == []
    harness.add(2, node="n2")
    ic.process_tasks_to_send(interesting, radio)  # type: ignore[arg-type]
    assert len(radio.sent) == 1


class CountingSelector(RandomManagerSelector):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def sort_managers(self, ready_managers: Any, manager_list: Any) -> Any:
        self.calls += 1
        return super().sort_managers(ready_managers, manager_list)


def test_idle_managers_cost_nothing_per_pass_until_work_for_them_arrives(harness: Harness) -> None:
    """With 1,000 idle pools and one task waiting for an absent node, every pass used to walk all pools."""
    ic = harness.ic
    ic.manager_selector = selector = CountingSelector()
    interesting = set()
    for i in range(1000):
        ic._ready_managers[f"m{i}".encode()] = _manager(f"n{i}", [])
        interesting.add(f"m{i}".encode())
    harness.add(1, node="absent", hard=True)
    ic.process_tasks_to_send(interesting, None)
    assert interesting == set() and selector.calls == 1
    for _ in range(100):
        ic.process_tasks_to_send(interesting, None)
    assert selector.calls == 1
    harness.add(2, node="n7")  # work for one parked manager wakes just that one
    ic.process_tasks_to_send(interesting, None)
    assert selector.calls == 2
    assert ic._ready_managers[b"m7"]["tasks"] == [2]


def test_a_draining_pool_keeps_its_node_until_its_tasks_are_done(harness: Harness) -> None:
    ic = harness.ic
    ic._ready_managers[b"m1"] = _manager("n1", [])
    harness.add(1, node="n1", hard=True)
    ic._ready_managers[b"m1"]["tasks"].extend(ids(ic._pop_for("n1", 1)))
    ic._ready_managers[b"m1"]["draining"] = True
    harness.add(2, node="n1", hard=True)
    ic.expire_drained_managers(set(), None)
    assert "n1" in ic.nodes_report() and "n1" not in ic._absent_since
    ic._ready_managers[b"m1"]["tasks"].remove(1)  # its result arrived
    ic.expire_drained_managers(set(), None)
    assert ic.nodes_report() == {} and "n1" in ic._absent_since
    assert not ic._inflight


def test_the_allow_list_refuses_unknown_nodes_and_extra_pools(tmp_path: Any) -> None:
    with started_harness(tmp_path, allowed_nodes={"n1": 1, "n2": None}) as h:
        ic = h.ic
        for mid, node in ((b"a", "n1"), (b"b", "n1"), (b"c", "evil"), (b"d", "n2"), (b"e", "n2")):
            ic._ready_managers[mid] = _manager(node, [])
        assert {n: r["pools"] for n, r in ic.nodes_report().items()} == {"n1": 1, "n2": 2}
        rejected = ic.stats_report()["rejected_pools"]
        assert len(rejected) == 2
        assert rejected[0].startswith("b@n1") and "allowed 1 pool" in rejected[0]
        assert rejected[1].startswith("c@evil") and "not in allowed_nodes" in rejected[1]
        assert not ic._ready_managers[b"c"]["active"]
