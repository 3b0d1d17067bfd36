"""Affinity interchange: ``python -m parsl_affinity_htex.interchange [--grace-period S]``.

A subclass of upstream's Interchange (parsl 2026.10.26). Upstream keeps one priority queue and hands tasks to
whichever manager has room, so it cannot honour a node. This one adds:

* a queue per node (same ``(-priority, -task_id, msg)`` ordering as upstream's shared queue), merged in
  priority order with the shared queue when a manager of that node asks for work;
* a fallback policy: when a node has had no live pool for the grace period, its queued *soft* tasks move to
  the shared queue and its *hard* tasks fail with NodeUnavailable (never wait forever);
* rescue on pool loss: tasks running on an expired pool are re-queued (soft, once) or failed (hard) instead of
  all becoming ManagerLost;
* the ``AFFINITY_NODES`` command reporting connected nodes with their slots and pools.

Upstream functions that are overridden are fingerprinted in the tests; the only copied code (the manager loop of
``process_tasks_to_send``) is fenced below.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

import structlog
import zmq
from parsl.executors.high_throughput import interchange as _upstream
from parsl.monitoring.radios.base import MonitoringRadioSender
from parsl.serialize import serialize as serialize_object

from parsl_affinity_htex._errors import AffinitySpecError, NodeUnavailable
from parsl_affinity_htex._logging import configure_child_logging
from parsl_affinity_htex._protocol import NODES_COMMAND
from parsl_affinity_htex._spec import AFFINITY_CONTEXT_KEY

__all__ = ["NODES_COMMAND", "AffinityInterchange", "main"]

log = structlog.get_logger(__name__)

#: How often a soft task may be re-queued after losing its pool before it is failed like upstream (ManagerLost).
MAX_SOFT_REQUEUES: Final = 1
_PRUNE_PERIOD_S: Final = 2.0

QueueEntry = tuple[Any, int, dict[str, Any]]


def _node_of(manager: Any) -> str:
    """The node a manager record belongs to; stock pools (no ``node_name``) count as their hostname."""
    return str(manager.get("node_name") or manager.get("hostname") or "unknown")


class _ReplayedCommand:
    """Stands in for the command socket for one upstream ``process_command`` call.

    We must read a request to know whether it is ours; when it is not, upstream's handler gets this object,
    which returns the already-read request and forwards the reply to the real socket.
    """

    def __init__(self, request: Any, socket: Any) -> None:
        self._request = request
        self._socket = socket

    def recv_pyobj(self) -> Any:
        return self._request

    def send_pyobj(self, reply: Any) -> None:
        self._socket.send_pyobj(reply)


class AffinityInterchange(_upstream.Interchange):  # type: ignore[misc]
    """Upstream's interchange plus per-node queues, the soft/hard fallback policy and node reporting."""

    def __init__(self, *, affinity_grace_period: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (isinstance(affinity_grace_period, int | float) and affinity_grace_period >= 0):
            raise ValueError(f"affinity_grace_period must be a number >= 0, got {affinity_grace_period!r}")
        self.affinity_grace_period = float(affinity_grace_period)
        self._node_queues: dict[str, Any] = {}  # node -> SortedList of QueueEntry (upstream's class and key)
        self._tagged_queued = 0
        # task id -> (entry, node, hard, requeues) for tagged tasks sent to a manager; pruned lazily.
        self._inflight: dict[int, tuple[QueueEntry, str, bool, int]] = {}
        self._requeues: dict[int, int] = {}
        self._live: dict[str, list[bytes]] = {}  # node -> live managers
        self._started_at = time.time()
        self._absent_since: dict[str, float] = {}
        self._next_prune = self._started_at + _PRUNE_PERIOD_S
        log.info("interchange.started", grace_period=self.affinity_grace_period, worker_port=self.worker_port)

    # ----- queues -------------------------------------------------------------------------------------------
    def _new_queue(self) -> Any:
        # Same container and ordering as upstream's pending_task_queue (no extra dependency on sortedcontainers).
        return _upstream.SortedList(key=lambda tup: (tup[0], tup[1]))

    def _send_failure(self, task_id: int, exc: Exception) -> None:
        package = {"type": "result", "task_id": task_id, "exception": serialize_object(exc)}
        self.results_outgoing.send(pickle.dumps(package))

    def process_task_incoming(self) -> None:
        """Queue an incoming task on its node's queue (tagged) or the shared queue (untagged).

        Replaces upstream's version: a non-numeric priority fails that task instead of killing the interchange.
        """
        if self.socks.get(self.task_incoming) != zmq.POLLIN:
            return
        msg = self.task_incoming.recv_pyobj()
        task_id = msg["task_id"]
        context = msg["context"]
        priority = context.get("resource_spec", {}).get("priority", math.inf)
        if isinstance(priority, bool) or not isinstance(priority, int | float) or priority != priority:
            log.error("task.bad_priority", task_id=task_id, priority=repr(priority))
            self._send_failure(
                task_id, AffinitySpecError(f"'priority' must be a number, got {priority!r}", key="priority")
            )
            return
        entry: QueueEntry = (-priority, -task_id, msg)
        affinity = context.get(AFFINITY_CONTEXT_KEY)
        if affinity is None:
            self.pending_task_queue.add(entry)
            return
        node, _hard = affinity
        self._enqueue_tagged(node, entry)

    def _enqueue_tagged(self, node: str, entry: QueueEntry) -> None:
        queue = self._node_queues.get(node)
        if queue is None:
            queue = self._node_queues[node] = self._new_queue()
        queue.add(entry)
        self._tagged_queued += 1
        if node not in self._live:
            # A node never seen is treated as absent since the interchange started: pools get the grace period
            # to register after start-up, but a long-gone node fails/falls back without a fresh wait.
            self._absent_since.setdefault(node, self._started_at)

    def _pop_for(self, node: str, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` tasks for a manager on ``node``: its node queue and the shared queue, by priority."""
        tasks: list[dict[str, Any]] = []
        queue = self._node_queues.get(node)
        shared = self.pending_task_queue
        while len(tasks) < count:
            if queue:
                if shared and (shared[-1][0], shared[-1][1]) > (queue[-1][0], queue[-1][1]):
                    entry = shared.pop()
                else:
                    entry = queue.pop()
                    self._tagged_queued -= 1
                    msg = entry[2]
                    tid = msg["task_id"]
                    self._inflight[tid] = (
                        entry,
                        node,
                        bool(msg["context"][AFFINITY_CONTEXT_KEY][1]),
                        self._requeues.get(tid, 0),
                    )
            elif shared:
                entry = shared.pop()
            else:
                break
            tasks.append(entry[2])
        return tasks

    # ----- node liveness and fallback ----------------------------------------------------------------------
    def _refresh_nodes(self, now: float) -> None:
        live: dict[str, list[bytes]] = {}
        for manager_id, m in self._ready_managers.items():
            if m["active"] and not m["draining"]:
                live.setdefault(_node_of(m), []).append(manager_id)
        if live.keys() != self._live.keys():
            for node in live.keys() - self._live.keys():
                self._absent_since.pop(node, None)
                log.info("node.joined", node=node, pools=len(live[node]))
            for node in self._live.keys() - live.keys():
                self._absent_since[node] = now
                log.warning("node.lost", node=node, queued=len(self._node_queues.get(node) or ()))
        self._live = live

    def _apply_fallback(self, now: float) -> None:
        if not self._tagged_queued:
            return
        for node, queue in self._node_queues.items():
            if not queue or node in self._live:
                continue
            absent_for = now - self._absent_since.get(node, self._started_at)
            if absent_for < self.affinity_grace_period:
                continue
            moved = failed = 0
            for entry in list(queue):
                msg = entry[2]
                if msg["context"][AFFINITY_CONTEXT_KEY][1]:
                    failed += 1
                    self._send_failure(
                        msg["task_id"],
                        NodeUnavailable(
                            f"task {msg['task_id']} has hard affinity to node {node!r}, which has had no live worker"
                            f" pool for {absent_for:.1f}s (grace period {self.affinity_grace_period:g}s)",
                            node=node,
                        ),
                    )
                else:
                    moved += 1
                    self.pending_task_queue.add(entry)
            self._tagged_queued -= len(queue)
            queue.clear()
            log.warning(
                "node.fallback",
                node=node,
                absent_for=round(absent_for, 3),
                soft_moved=moved,
                hard_failed=failed,
            )

    def _prune_inflight(self, now: float) -> None:
        """Forget finished tagged tasks (results are not intercepted, so this is done by difference)."""
        self._next_prune = now + _PRUNE_PERIOD_S
        if not self._inflight:
            return
        running: set[int] = set()
        for m in self._ready_managers.values():
            running.update(m["tasks"])
        self._inflight = {tid: v for tid, v in self._inflight.items() if tid in running}
        if self._requeues:
            keep = running | {entry[2]["task_id"] for q in self._node_queues.values() for entry in q}
            self._requeues = {tid: n for tid, n in self._requeues.items() if tid in keep}

    def _rescue_tasks(self, manager_id: bytes, m: Any) -> None:
        """Before upstream fails a lost manager's tasks with ManagerLost: re-queue soft ones, fail hard ones."""
        node = _node_of(m)
        other_live = [mid for mid in self._live.get(node, []) if mid != manager_id]
        for tid in list(m["tasks"]):
            info = self._inflight.pop(tid, None)
            if info is None:
                continue  # untagged: upstream's ManagerLost, as in plain Parsl
            entry, task_node, hard, requeues = info
            if hard and not other_live:
                m["tasks"].remove(tid)
                self._send_failure(
                    tid,
                    NodeUnavailable(
                        f"task {tid} has hard affinity to node {task_node!r}, which lost its worker pool"
                        f" {manager_id.decode(errors='replace')} while the task ran",
                        node=task_node,
                    ),
                )
                log.warning("task.failed_node_lost", task_id=tid, node=task_node)
            elif requeues < MAX_SOFT_REQUEUES:
                m["tasks"].remove(tid)
                self._requeues[tid] = requeues + 1
                self._enqueue_tagged(task_node, entry)
                log.warning("task.requeued", task_id=tid, node=task_node, hard=hard)

    # ----- upstream hooks ----------------------------------------------------------------------------------
    def expire_bad_managers(
        self, interesting_managers: set[bytes], monitoring_radio: MonitoringRadioSender | None
    ) -> None:
        """Rescue tagged tasks of managers upstream is about to expire, then let upstream expire them."""
        now = time.time()
        for manager_id, m in list(self._ready_managers.items()):
            if now - m["last_heartbeat"] > self.heartbeat_threshold:  # upstream's expiry condition
                log.warning(
                    "pool.expired",
                    manager=manager_id.decode(errors="replace"),
                    node=_node_of(m),
                    running=len(m["tasks"]),
                )
                self._rescue_tasks(manager_id, m)
        super().expire_bad_managers(interesting_managers, monitoring_radio)

    def process_tasks_to_send(
        self, interesting_managers: set[bytes], monitoring_radio: MonitoringRadioSender | None
    ) -> None:
        """Upstream's dispatch loop, asking each manager's node queue (merged with the shared queue) for work."""
        now = time.time()
        self._refresh_nodes(now)
        self._apply_fallback(now)
        if now >= self._next_prune:
            self._prune_inflight(now)

        # ---- BEGIN adapted from parsl 2026.10.26 Interchange.process_tasks_to_send (fingerprinted) ----
        # changes: the queue test covers node queues too; get_tasks -> _pop_for(node); a manager with capacity
        # but nothing for its node stays interesting and the loop goes on to the next manager.
        if interesting_managers and (self.pending_task_queue or self._tagged_queued):
            shuffled_managers = self.manager_selector.sort_managers(
                self._ready_managers, interesting_managers
            )

            while shuffled_managers and (self.pending_task_queue or self._tagged_queued):
                manager_id = shuffled_managers.pop()
                m = self._ready_managers[manager_id]
                tasks_inflight = len(m["tasks"])
                real_capacity = m["max_capacity"] - tasks_inflight

                if real_capacity and m["active"] and not m["draining"]:
                    tasks = self._pop_for(_node_of(m), real_capacity)
                    if tasks:
                        self.manager_sock.send_multipart([manager_id, pickle.dumps(tasks)])
                        task_count = len(tasks)
                        self.count += task_count
                        tids = [t["task_id"] for t in tasks]
                        m["tasks"].extend(tids)
                        m["idle_since"] = None
                        real_capacity -= task_count
                        if real_capacity <= 0:
                            interesting_managers.remove(manager_id)
                    self._send_monitoring_info(monitoring_radio, m)
                else:
                    interesting_managers.remove(manager_id)
        # ---- END adapted block ----

    def process_command(self, monitoring_radio: MonitoringRadioSender | None) -> None:
        """Answer NODES_COMMAND here; hand every other request to upstream's handler unchanged."""
        if self.socks.get(self.command_channel) != zmq.POLLIN:
            return
        request = self.command_channel.recv_pyobj()
        if request == NODES_COMMAND:
            self.command_channel.send_pyobj(self.nodes_report())
            return
        real_channel, real_socks = self.command_channel, self.socks
        replay = _ReplayedCommand(request, real_channel)
        self.command_channel, self.socks = replay, {replay: zmq.POLLIN}  # type: ignore[assignment]
        try:
            super().process_command(monitoring_radio)
        finally:
            self.command_channel, self.socks = real_channel, real_socks

    def nodes_report(self) -> dict[str, dict[str, Any]]:
        """Connected nodes (those with a live pool) with their worker slots, pools and queued tagged tasks."""
        self._refresh_nodes(time.time())
        report: dict[str, dict[str, Any]] = {}
        for node, managers in self._live.items():
            report[node] = {
                "slots": sum(int(self._ready_managers[mid]["worker_count"]) for mid in managers),
                "pools": len(managers),
                "managers": [mid.decode(errors="replace") for mid in managers],
                "queued": len(self._node_queues.get(node) or ()),
            }
        return report


def main(argv: Sequence[str] | None = None) -> None:
    """Read upstream's pickled constructor kwargs from stdin, as upstream's interchange.py does, and run."""
    parser = argparse.ArgumentParser(prog="python -m parsl_affinity_htex.interchange")
    parser.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        help="seconds a node may have no live pool before its soft tasks run elsewhere and its "
        "hard tasks fail with NodeUnavailable (default 30)",
    )
    args = parser.parse_args(argv)

    from parsl.utils import setproctitle

    setproctitle("parsl: HTEX affinity interchange")
    config = pickle.load(sys.stdin.buffer)
    configure_child_logging(os.path.join(config["logdir"], "affinity_interchange.log"))
    ic = AffinityInterchange(affinity_grace_period=args.grace_period, **config)
    ic.start()


if __name__ == "__main__":
    main()
