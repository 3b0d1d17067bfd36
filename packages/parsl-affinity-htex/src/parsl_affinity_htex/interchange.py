"""Affinity interchange: ``python -m parsl_affinity_htex.interchange [--grace-period S] [--allowed-nodes JSON]``.

A subclass of upstream's Interchange (parsl 2026.10.26). Upstream keeps one priority queue and hands tasks to
whichever manager has room, so it cannot honour a node. This one adds:

* a queue per node (same ``(-priority, -task_id, msg)`` ordering as upstream's shared queue), merged in
  priority order with the shared queue when a manager of that node asks for work;
* liveness that means capacity: a node is live while one of its pools is registered, active, accepted and has
  more than 0 workers. A 0-worker pool (``cores_per_worker`` larger than the node, say) is reported once and
  gets no task. A draining pool keeps its node present until its last task is done;
* a fallback policy: a node's grace timer starts when it is expected (a task is queued for it) and missing,
  or when it loses its last pool. After the grace period its queued soft tasks run anywhere and its hard tasks
  fail with NodeUnavailable. A soft task that has waited the grace period while another node has an idle
  worker is stolen by that worker (counted in the stats);
* rescue on pool loss, decided once per pass: tasks running on expired pools are re-queued (soft, once; hard
  only onto another live pool of the node) or failed with NodeUnavailable instead of all becoming ManagerLost;
* input that never kills the main loop: a malformed task fails alone with AffinitySpecError;
* an optional allow-list of node names and pools per node; other pools are told to shut down;
* the ``AFFINITY_NODES`` and ``AFFINITY_STATS`` commands.

The node table is kept up to date by the manager records themselves (a dict that reports changes of the fields
that decide liveness), so a dispatch pass costs the same with 1 or 1,000 pools. Every upstream function this
module overrides, copies or relies on is listed with its fingerprint in ``_upstream.py``.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import zmq
from parsl.executors.high_throughput import interchange as _upstream
from parsl.monitoring.radios.base import MonitoringRadioSender
from parsl.serialize import serialize as serialize_object

from parsl_affinity_htex._errors import AffinitySpecError, NodeUnavailable
from parsl_affinity_htex._log import kv
from parsl_affinity_htex._logging import configure_child_logging
from parsl_affinity_htex._protocol import NODES_COMMAND, STATS_COMMAND
from parsl_affinity_htex._spec import AFFINITY_CONTEXT_KEY, parse_allowed_nodes

__all__ = ["NODES_COMMAND", "STATS_COMMAND", "AffinityInterchange", "main"]

log = logging.getLogger("parsl_affinity_htex.interchange")  # not __name__: this runs as __main__ (python -m)

#: How often a task may be re-queued after losing its pool before it is failed (hard) or ManagerLost (soft).
MAX_REQUEUES: Final = 1
#: Registration-record field marking a pool refused by the node allow-list.
_REJECTED: Final = "affinity_rejected"
#: Record fields whose change can make a pool join or leave its node.
_LIVENESS_FIELDS: Final = frozenset({"active", "worker_count", "max_capacity", _REJECTED})
_REJECTED_KEPT: Final = 100

QueueEntry = tuple[Any, int, dict[str, Any]]


def _node_of(manager: Mapping[str, Any]) -> str:
    """The node a manager record belongs to; stock pools (no ``node_name``) count as their hostname."""
    return str(manager.get("node_name") or manager.get("hostname") or "unknown")


def _pool_name(manager_id: bytes, manager: Mapping[str, Any]) -> str:
    return f"{manager_id.decode(errors='replace')}@{_node_of(manager)}"


class _TaskIds(list):  # type: ignore[type-arg]
    """A manager's in-flight task ids; tells the interchange when upstream removes one (its result arrived)."""

    __slots__ = ("_done",)

    def __init__(self, items: Iterable[int], done: Callable[[int], None]) -> None:
        super().__init__(items)
        self._done = done

    def remove(self, task_id: int) -> None:
        super().remove(task_id)
        self._done(task_id)

    def __reduce__(self) -> tuple[Any, ...]:  # monitoring pickles copies of the record: as a plain list
        return (list, (list(self),))


class _TrackedRecord(dict):  # type: ignore[type-arg]
    """Upstream's manager record (a plain dict) that reports changes of the fields deciding node liveness."""

    __slots__ = ("_changed", "_manager_id")

    def __init__(
        self,
        manager_id: bytes,
        record: Mapping[str, Any],
        changed: Callable[[bytes], None],
        done: Callable[[int], None],
    ) -> None:
        super().__init__(record)
        self._manager_id = manager_id
        self._changed = changed
        dict.__setitem__(self, "tasks", _TaskIds(record.get("tasks", ()), done))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if key in _LIVENESS_FIELDS:
            self._changed(self._manager_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


class _ManagerTable(dict):  # type: ignore[type-arg]
    """``Interchange._ready_managers``: stores tracked records and reports registrations and removals."""

    __slots__ = ("_ic",)

    def __init__(self, ic: AffinityInterchange) -> None:
        super().__init__()
        self._ic = ic

    def __setitem__(self, manager_id: bytes, record: Mapping[str, Any]) -> None:
        ic = self._ic
        tracked = (
            record
            if isinstance(record, _TrackedRecord)
            else _TrackedRecord(manager_id, record, ic._pool_changed, ic._task_done)
        )
        super().__setitem__(manager_id, tracked)
        ic._pool_registered(manager_id, tracked)

    def pop(self, manager_id: bytes, *default: Any) -> Any:
        record = super().pop(manager_id, *default)
        if isinstance(record, _TrackedRecord):
            self._ic._pool_removed(manager_id)
        return record

    def __delitem__(self, manager_id: bytes) -> None:
        self.pop(manager_id)


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


class _ReplayedManagerMessage:
    """Stands in for the pool socket for one upstream ``process_manager_socket_message`` call.

    The message was read here first (to count its bytes); upstream's handler gets it back from this object,
    and its replies go to the real socket.
    """

    def __init__(self, parts: list[bytes], socket: Any, sent: Callable[[int], None]) -> None:
        self._parts = parts
        self._socket = socket
        self._sent = sent

    def recv_multipart(self) -> list[bytes]:
        return self._parts

    def send_multipart(self, parts: Sequence[bytes]) -> None:
        self._sent(sum(len(p) for p in parts))
        self._socket.send_multipart(parts)


class AffinityInterchange(_upstream.Interchange):  # type: ignore[misc]
    """Upstream's interchange plus per-node queues, capacity-based liveness, fallback, stealing and rescue."""

    def __init__(
        self,
        *,
        affinity_grace_period: float = 30.0,
        allowed_nodes: Mapping[str, int | None] | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(affinity_grace_period, bool) or not (
            isinstance(affinity_grace_period, int | float) and 0 <= affinity_grace_period < math.inf
        ):
            raise ValueError(f"affinity_grace_period must be a number >= 0, got {affinity_grace_period!r}")
        self.affinity_grace_period = float(affinity_grace_period)
        self.allowed_nodes = parse_allowed_nodes(allowed_nodes)
        super().__init__(**kwargs)
        self._ready_managers = _ManagerTable(self)
        self._node_queues: dict[str, Any] = {}  # node -> SortedList of QueueEntry (upstream's class and key)
        self._tagged_queued = 0
        # Tagged tasks sent to a manager: task id -> (entry, node, hard, requeues). Forgotten when the result
        # arrives (upstream removes the id from the manager's task list) or the task is rescued.
        self._inflight: dict[int, tuple[QueueEntry, str, bool, int]] = {}
        self._requeues: dict[int, int] = {}  # queued tagged tasks that were rescued once already
        # Hard tasks re-queued onto another pool of their node after losing theirs: node -> task id -> entry.
        # They fail as soon as that node has no pool left (they were running there when it went).
        self._requeued_hard: dict[str, dict[int, QueueEntry]] = {}
        # Soft tasks waiting in a node queue, oldest first, for stealing: (queued_at, task id, node, entry).
        self._soft_fifo: collections.deque[tuple[float, int, str, QueueEntry]] = collections.deque()
        self._soft_waiting: dict[int, QueueEntry] = {}
        # The node table: present pools per node (accepted, active, > 0 workers; draining ones until drained).
        self._node_pools: dict[str, set[bytes]] = {}
        self._pool_node: dict[bytes, str] = {}
        self._absent_since: dict[str, float] = {}
        self._next_fallback_at = math.inf
        # Managers with free capacity but nothing to do, by node; woken when work for them may have arrived.
        self._parked: dict[str, set[bytes]] = {}
        self._wake_nodes: set[str] = set()
        self._wake_all = False
        self._zero_worker_pools: dict[bytes, str] = {}
        self._rejected_pools: collections.deque[str] = collections.deque(maxlen=_REJECTED_KEPT)
        self._stats = {"stolen": 0, "fell_back": 0, "failed_hard": 0, "requeued": 0, "rejected": 0}
        # every byte that crossed between the pools and the driver's side (the data plane keeps big results
        # off this path; these counters show it)
        self._bytes = {"bytes_from_pools": 0, "bytes_to_pools": 0}
        log.info(
            "interchange.started %s",
            kv(
                grace_period=self.affinity_grace_period,
                worker_port=self.worker_port,
                allowed_nodes=self.allowed_nodes,
            ),
        )

    # ----- the node table ------------------------------------------------------------------------------------
    def _pool_registered(self, manager_id: bytes, m: _TrackedRecord) -> None:
        node = _node_of(m)
        reason = self._refusal(node)
        if reason is not None:
            dict.__setitem__(m, _REJECTED, True)
            dict.__setitem__(m, "active", False)
            name = _pool_name(manager_id, m)
            self._rejected_pools.append(f"{name}: {reason}")
            self._stats["rejected"] += 1
            log.warning("pool.rejected %s", kv(pool=name, node=node, reason=reason))
            self.manager_sock.send_multipart([manager_id, _upstream.PKL_SHUTDOWN_CODE])
            return
        if int(m.get("worker_count") or 0) <= 0:
            name = _pool_name(manager_id, m)
            self._zero_worker_pools[manager_id] = name
            log.warning(
                "pool.no_workers %s",
                kv(
                    pool=name,
                    node=node,
                    detail="the pool registered with 0 workers (cores_per_worker, mem_per_worker or accelerators "
                    "leave no room on its node); it gets no task and its node does not count as live",
                ),
            )
        self._pool_changed(manager_id)

    def _refusal(self, node: str) -> str | None:
        if self.allowed_nodes is None:
            return None
        if node not in self.allowed_nodes:
            return f"node {node!r} is not in allowed_nodes {sorted(self.allowed_nodes)}"
        limit = self.allowed_nodes[node]
        if limit is not None and len(self._node_pools.get(node, ())) >= limit:
            return f"node {node!r} already has its allowed {limit} pool(s)"
        return None

    def _pool_changed(self, manager_id: bytes) -> None:
        m = self._ready_managers.get(manager_id)
        present = (
            m is not None
            and bool(m.get("active"))
            and not m.get(_REJECTED)
            and int(m.get("worker_count") or 0) > 0
        )
        old = self._pool_node.get(manager_id)
        new = _node_of(m) if present and m is not None else None
        if old == new:
            return
        if old is not None:
            self._leave(manager_id, old)
        if new is not None:
            self._join(manager_id, new)

    def _pool_removed(self, manager_id: bytes) -> None:
        old = self._pool_node.get(manager_id)
        if old is not None:
            self._leave(manager_id, old)
        self._zero_worker_pools.pop(manager_id, None)
        for parked in self._parked.values():
            parked.discard(manager_id)

    def _join(self, manager_id: bytes, node: str) -> None:
        pools = self._node_pools.setdefault(node, set())
        pools.add(manager_id)
        self._pool_node[manager_id] = node
        if len(pools) == 1:
            self._absent_since.pop(node, None)
            log.info("node.joined %s", kv(node=node))

    def _leave(self, manager_id: bytes, node: str) -> None:
        del self._pool_node[manager_id]
        pools = self._node_pools[node]
        pools.discard(manager_id)
        if pools:
            return
        del self._node_pools[node]
        now = time.time()
        self._absent_since[node] = now
        self._fail_requeued_hard(node)
        queued = len(self._node_queues.get(node) or ())
        if queued:
            self._next_fallback_at = min(self._next_fallback_at, now + self.affinity_grace_period)
        log.warning("node.lost %s", kv(node=node, queued=queued))

    def _fail_requeued_hard(self, node: str) -> None:
        """The node lost its last pool: hard tasks that already lost a pool there while running fail now."""
        requeued = self._requeued_hard.pop(node, None)
        if not requeued:
            return
        queue = self._node_queues[node]
        for tid, entry in requeued.items():
            queue.remove(entry)
            self._tagged_queued -= 1
            self._requeues.pop(tid, None)
            self._stats["failed_hard"] += 1
            self._send_failure(
                tid,
                NodeUnavailable(
                    f"task {tid} has hard affinity to node {node!r}, which lost its last worker pool after"
                    " the task's own pool was lost while it ran",
                    node=node,
                ),
            )
            log.warning("task.failed_node_lost %s", kv(task_id=tid, node=node))

    def _task_done(self, task_id: int) -> None:
        self._inflight.pop(task_id, None)

    # ----- queues --------------------------------------------------------------------------------------------
    def _new_queue(self) -> Any:
        # Same container and ordering as upstream's pending_task_queue (no extra dependency on sortedcontainers).
        return _upstream.SortedList(key=lambda tup: (tup[0], tup[1]))

    def _send_failure(self, task_id: int, exc: Exception) -> None:
        package = {"type": "result", "task_id": task_id, "exception": serialize_object(exc)}
        self.results_outgoing.send(pickle.dumps(package))

    def process_task_incoming(self) -> None:
        """Queue an incoming task on its node's queue (tagged) or the shared queue (untagged).

        Replaces upstream's version: a malformed task (non-numeric priority, bad affinity value) fails alone
        with AffinitySpecError instead of killing the interchange for everybody.
        """
        if self.socks.get(self.task_incoming) != zmq.POLLIN:
            return
        try:
            msg = self.task_incoming.recv_pyobj()
            task_id = msg["task_id"]
            if isinstance(task_id, bool) or not isinstance(task_id, int):
                raise TypeError(f"task_id must be an int, got {task_id!r}")
        except Exception as e:  # nothing to answer to: log and carry on
            log.error("task.unreadable %s", kv(error=repr(e)))
            return
        try:
            self._queue_task(task_id, msg)
        except AffinitySpecError as e:
            log.error("task.rejected %s", kv(task_id=task_id, error=str(e)))
            self._send_failure(task_id, e)
        except Exception as e:
            log.error("task.rejected %s", kv(task_id=task_id, error=repr(e)))
            self._send_failure(task_id, AffinitySpecError(f"task {task_id}: malformed task message: {e!r}"))

    def _queue_task(self, task_id: int, msg: dict[str, Any]) -> None:
        context = msg["context"]
        if not isinstance(context, dict):
            raise AffinitySpecError(f"task {task_id}: context must be a dict, got {type(context).__name__}")
        spec = context.get("resource_spec") or {}
        if not isinstance(spec, dict):
            raise AffinitySpecError(f"task {task_id}: resource_spec must be a dict, got {spec!r}")
        priority = spec.get("priority", math.inf)
        if isinstance(priority, bool) or not isinstance(priority, int | float) or priority != priority:
            raise AffinitySpecError(f"'priority' must be a number, got {priority!r}", key="priority")
        entry: QueueEntry = (-priority, -task_id, msg)
        affinity = context.get(AFFINITY_CONTEXT_KEY)
        if affinity is None:
            self.pending_task_queue.add(entry)
            self._wake_all = True
            return
        if not (isinstance(affinity, tuple | list) and len(affinity) == 2):
            raise AffinitySpecError(
                f"task {task_id}: affinity must be a (node, hard) pair, got {affinity!r}", key="node"
            )
        node, hard = affinity
        if not isinstance(node, str) or not node or not isinstance(hard, bool):
            raise AffinitySpecError(
                f"task {task_id}: affinity must be (non-empty str, bool), got {affinity!r}", key="node"
            )
        self._enqueue_tagged(node, entry, hard)

    def _enqueue_tagged(self, node: str, entry: QueueEntry, hard: bool, now: float | None = None) -> None:
        now = time.time() if now is None else now
        queue = self._node_queues.get(node)
        if queue is None:
            queue = self._node_queues[node] = self._new_queue()
        queue.add(entry)
        self._tagged_queued += 1
        self._wake_nodes.add(node)
        if not hard:
            self._soft_fifo.append((now, -entry[1], node, entry))
            self._soft_waiting[-entry[1]] = entry
        if node not in self._node_pools:
            # Expected and missing: a node never seen starts its grace now; a lost node keeps its loss time.
            since = self._absent_since.setdefault(node, now)
            self._next_fallback_at = min(self._next_fallback_at, since + self.affinity_grace_period)

    def _take(self, entry: QueueEntry, node: str, hard: bool) -> dict[str, Any]:
        """Bookkeeping for a tagged task leaving its node queue for a manager."""
        self._tagged_queued -= 1
        msg = entry[2]
        tid = msg["task_id"]
        if hard:
            requeued = self._requeued_hard.get(node)
            if requeued:
                requeued.pop(tid, None)
        else:
            self._soft_waiting.pop(tid, None)
        self._inflight[tid] = (entry, node, hard, self._requeues.pop(tid, 0))
        return msg

    def _pop_for(self, node: str, count: int, now: float | None = None) -> list[dict[str, Any]]:
        """Up to ``count`` tasks for a manager on ``node``: its node queue and the shared queue by priority,
        then soft tasks of other nodes that have waited the grace period (stolen)."""
        tasks: list[dict[str, Any]] = []
        queue = self._node_queues.get(node)
        shared = self.pending_task_queue
        while len(tasks) < count:
            if queue and not (shared and (shared[-1][0], shared[-1][1]) > (queue[-1][0], queue[-1][1])):
                entry = queue.pop()
                tasks.append(self._take(entry, node, bool(entry[2]["context"][AFFINITY_CONTEXT_KEY][1])))
            elif shared:
                tasks.append(shared.pop()[2])
            else:
                break
        now = time.time() if now is None else now
        while len(tasks) < count and (stolen := self._steal(now)) is not None:
            tasks.append(stolen)
        return tasks

    def _soft_head(self) -> tuple[float, int, str, QueueEntry] | None:
        fifo = self._soft_fifo
        while fifo and self._soft_waiting.get(fifo[0][1]) is not fifo[0][3]:
            fifo.popleft()  # dispatched, fallen back or re-queued since
        return fifo[0] if fifo else None

    def _steal(self, now: float) -> dict[str, Any] | None:
        head = self._soft_head()
        if head is None or now - head[0] < self.affinity_grace_period:
            return None
        queued_at, tid, node, entry = self._soft_fifo.popleft()
        self._node_queues[node].remove(entry)
        self._stats["stolen"] += 1
        log.info("task.stolen %s", kv(task_id=tid, node=node, waited=round(now - queued_at, 3)))
        return self._take(entry, node, False)

    # ----- fallback and rescue -------------------------------------------------------------------------------
    def _apply_fallback(self, now: float) -> None:
        """Soft tasks of nodes absent for the grace period go to the shared queue; hard ones fail."""
        next_at = math.inf
        for node, since in list(self._absent_since.items()):
            queue = self._node_queues.get(node)
            if not queue:
                continue
            absent_for = now - since
            if absent_for < self.affinity_grace_period:
                next_at = min(next_at, since + self.affinity_grace_period)
                continue
            moved = failed = 0
            for entry in list(queue):
                msg = entry[2]
                tid = msg["task_id"]
                self._requeues.pop(tid, None)
                if msg["context"][AFFINITY_CONTEXT_KEY][1]:
                    failed += 1
                    self._send_failure(
                        tid,
                        NodeUnavailable(
                            f"task {tid} has hard affinity to node {node!r}, which has had no live worker"
                            f" pool for {absent_for:.1f}s (grace period {self.affinity_grace_period:g}s)",
                            node=node,
                        ),
                    )
                else:
                    moved += 1
                    self._soft_waiting.pop(tid, None)
                    self.pending_task_queue.add(entry)
            self._tagged_queued -= len(queue)
            queue.clear()
            self._requeued_hard.pop(node, None)
            self._stats["fell_back"] += moved
            self._stats["failed_hard"] += failed
            if moved:
                self._wake_all = True
            log.warning(
                "node.fallback %s",
                kv(node=node, absent_for=round(absent_for, 3), soft_moved=moved, hard_failed=failed),
            )
        self._next_fallback_at = next_at

    def _rescue_tasks(self, manager_id: bytes, m: Mapping[str, Any], lost: set[bytes], now: float) -> None:
        """Before upstream's ManagerLost: re-queue soft tasks (once), and hard ones onto another live pool of
        their node (once); fail hard ones whose node has no other live pool with NodeUnavailable."""
        tasks: _TaskIds = m["tasks"]
        for tid in list(tasks):
            info = self._inflight.pop(tid, None)
            if info is None:
                continue  # untagged: upstream's ManagerLost, as in plain Parsl
            entry, task_node, hard, requeues = info
            other_live = self._node_pools.get(task_node, set()) - lost
            if hard and not other_live:
                list.remove(tasks, tid)
                self._stats["failed_hard"] += 1
                self._send_failure(
                    tid,
                    NodeUnavailable(
                        f"task {tid} has hard affinity to node {task_node!r}, which lost its worker pool"
                        f" {manager_id.decode(errors='replace')} while the task ran",
                        node=task_node,
                    ),
                )
                log.warning("task.failed_node_lost %s", kv(task_id=tid, node=task_node))
            elif requeues < MAX_REQUEUES:
                list.remove(tasks, tid)
                self._requeues[tid] = requeues + 1
                self._stats["requeued"] += 1
                self._enqueue_tagged(task_node, entry, hard, now)
                if hard:
                    self._requeued_hard.setdefault(task_node, {})[tid] = entry
                log.warning("task.requeued %s", kv(task_id=tid, node=task_node, hard=hard))

    # ----- upstream hooks ------------------------------------------------------------------------------------
    def expire_bad_managers(
        self, interesting_managers: set[bytes], monitoring_radio: MonitoringRadioSender | None
    ) -> None:
        """Upstream's expiry with one clock reading per pass: the managers found expired are the ones rescued
        and the ones removed, and several pools of one node lost together count as one node loss."""
        now = time.time()
        # ---- BEGIN adapted from parsl 2026.10.26 Interchange.expire_bad_managers (listed in _upstream.py) ----
        # changes: one `now`; our rescue runs first over the whole expired set; key=value log events.
        bad_managers = [
            (manager_id, m)
            for (manager_id, m) in self._ready_managers.items()
            if now - m["last_heartbeat"] > self.heartbeat_threshold
        ]
        if not bad_managers:
            return
        lost = {manager_id for manager_id, _ in bad_managers}
        for manager_id, m in bad_managers:
            log.warning("pool.expired %s", kv(pool=_pool_name(manager_id, m), running=len(m["tasks"])))
            self._rescue_tasks(manager_id, m, lost, now)
        for manager_id, m in bad_managers:
            if m["active"]:
                m["active"] = False
                self._send_monitoring_info(monitoring_radio, m)
            for tid in m["tasks"]:
                try:
                    raise _upstream.ManagerLost(manager_id, m["hostname"])
                except Exception:
                    result_package = {
                        "type": "result",
                        "task_id": tid,
                        "exception": serialize_object(_upstream.RemoteExceptionWrapper(*sys.exc_info())),
                    }
                    self.results_outgoing.send(pickle.dumps(result_package))
            self._ready_managers.pop(manager_id, "None")
            interesting_managers.discard(manager_id)
        # ---- END adapted block ----

    def _wake(self, interesting_managers: set[bytes], now: float) -> None:
        """Return parked managers to the interesting set when work they could take may have arrived."""
        if not self._parked:
            self._wake_nodes.clear()
            self._wake_all = False
            return
        head = self._soft_head()
        if head is not None and now - head[0] >= self.affinity_grace_period:
            self._wake_all = True  # a soft task is ready to be stolen by any idle worker
        if self._wake_all:
            for parked in self._parked.values():
                interesting_managers.update(parked)
            self._parked.clear()
        else:
            for node in self._wake_nodes:
                interesting_managers.update(self._parked.pop(node, ()))
        self._wake_nodes.clear()
        self._wake_all = False

    def process_tasks_to_send(
        self, interesting_managers: set[bytes], monitoring_radio: MonitoringRadioSender | None
    ) -> None:
        """Upstream's dispatch loop, asking each manager's node queue (merged with the shared queue) for work."""
        now = time.time()
        if now >= self._next_fallback_at:
            self._apply_fallback(now)
        self._wake(interesting_managers, now)

        # ---- BEGIN adapted from parsl 2026.10.26 Interchange.process_tasks_to_send (listed in _upstream.py) ----
        # changes: the queue test covers node queues too; get_tasks -> _pop_for(node); a 0-worker pool gets no
        # task; a manager with capacity but nothing for its node is parked (out of the interesting set until
        # work for it arrives); monitoring info only when tasks were sent.
        if interesting_managers and (self.pending_task_queue or self._tagged_queued):
            shuffled_managers = self.manager_selector.sort_managers(
                self._ready_managers, interesting_managers
            )

            while shuffled_managers and (self.pending_task_queue or self._tagged_queued):
                manager_id = shuffled_managers.pop()
                m = self._ready_managers[manager_id]
                tasks_inflight = len(m["tasks"])
                real_capacity = m["max_capacity"] - tasks_inflight

                if real_capacity > 0 and m["active"] and not m["draining"] and m["worker_count"] > 0:
                    node = _node_of(m)
                    tasks = self._pop_for(node, real_capacity, now)
                    if tasks:
                        payload = pickle.dumps(tasks)
                        self._bytes["bytes_to_pools"] += len(manager_id) + len(payload)
                        self.manager_sock.send_multipart([manager_id, payload])
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
                        self._parked.setdefault(node, set()).add(manager_id)
                else:
                    interesting_managers.remove(manager_id)
        # ---- END adapted block ----

    def process_manager_socket_message(
        self,
        interesting_managers: set[bytes],
        monitoring_radio: MonitoringRadioSender | None,
        kill_event: threading.Event,
    ) -> None:
        """Count the bytes of one pool message, then hand it to upstream's handler unchanged."""
        if self.socks.get(self.manager_sock) != zmq.POLLIN:
            return
        parts = self.manager_sock.recv_multipart()
        self._bytes["bytes_from_pools"] += sum(len(p) for p in parts)
        real_sock, real_socks = self.manager_sock, self.socks
        replay = _ReplayedManagerMessage(parts, real_sock, self._count_sent)
        self.manager_sock, self.socks = replay, {replay: zmq.POLLIN}  # type: ignore[assignment]
        try:
            super().process_manager_socket_message(interesting_managers, monitoring_radio, kill_event)
        finally:
            self.manager_sock, self.socks = real_sock, real_socks

    def _count_sent(self, nbytes: int) -> None:
        self._bytes["bytes_to_pools"] += nbytes

    def process_command(self, monitoring_radio: MonitoringRadioSender | None) -> None:
        """Answer our commands here; hand every other request to upstream's handler unchanged."""
        if self.socks.get(self.command_channel) != zmq.POLLIN:
            return
        request = self.command_channel.recv_pyobj()
        if request == NODES_COMMAND:
            self.command_channel.send_pyobj(self.nodes_report())
            return
        if request == STATS_COMMAND:
            self.command_channel.send_pyobj(self.stats_report())
            return
        real_channel, real_socks = self.command_channel, self.socks
        replay = _ReplayedCommand(request, real_channel)
        self.command_channel, self.socks = replay, {replay: zmq.POLLIN}  # type: ignore[assignment]
        try:
            super().process_command(monitoring_radio)
        finally:
            self.command_channel, self.socks = real_channel, real_socks

    def nodes_report(self) -> dict[str, dict[str, Any]]:
        """Live nodes with their worker slots, pools (manager ids and block ids) and queued tagged tasks."""
        report: dict[str, dict[str, Any]] = {}
        for node, managers in self._node_pools.items():
            records = [self._ready_managers[mid] for mid in managers]
            report[node] = {
                "slots": sum(int(m["worker_count"]) for m in records),
                "pools": len(records),
                "managers": sorted(mid.decode(errors="replace") for mid in managers),
                "blocks": sorted({str(m.get("block_id")) for m in records}),
                "stores": sorted({str(store) for m in records if (store := dict(m).get("node_store"))}),
                "queued": len(self._node_queues.get(node) or ()),
            }
        return report

    def stats_report(self) -> dict[str, Any]:
        """Counters of the affinity policy since start, and the pools that cannot take work."""
        return {
            **self._stats,
            **self._bytes,
            "queued_tagged": self._tagged_queued,
            "queued_by_node": {node: len(q) for node, q in self._node_queues.items() if q},
            "zero_worker_pools": sorted(self._zero_worker_pools.values()),
            "rejected_pools": list(self._rejected_pools),
        }


def main(argv: Sequence[str] | None = None) -> None:
    """Read upstream's pickled constructor kwargs from stdin, as upstream's interchange.py does, and run."""
    parser = argparse.ArgumentParser(prog="python -m parsl_affinity_htex.interchange")
    parser.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        help="seconds a node may be expected and missing before its soft tasks run elsewhere and its hard "
        "tasks fail with NodeUnavailable; also how long a soft task waits on a busy node (default 30)",
    )
    parser.add_argument(
        "--allowed-nodes",
        type=json.loads,
        default=None,
        help='JSON: node names allowed to register pools, or {"node": max_pools_or_null}',
    )
    args = parser.parse_args(argv)

    # ---- BEGIN adapted from parsl 2026.10.26 interchange.py __main__ block (listed in _upstream.py) ----
    from parsl.utils import setproctitle

    setproctitle("parsl: HTEX affinity interchange")
    config = pickle.load(sys.stdin.buffer)
    configure_child_logging(os.path.join(config["logdir"], "affinity_interchange.log"))
    ic = AffinityInterchange(
        affinity_grace_period=args.grace_period, allowed_nodes=args.allowed_nodes, **config
    )
    ic.start()
    # ---- END adapted block ----


if __name__ == "__main__":
    main()
