"""AffinityHighThroughputExecutor: upstream HTEx that runs each task on the node it is told.

The executor validates the placement request at submit time, ships it to the affinity interchange in a context
key of its own (never in ``resource_spec``, whose keys the worker turns into persistent ``PARSL_<KEY>``
environment variables), asks the worker to run tasks through ``execute_with_record`` so each future gets a
RunRecord, and watches the interchange process so a dead interchange fails every outstanding future instead of
hanging them and ``cleanup()`` forever (upstream's behaviour).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import InvalidStateError
from dataclasses import dataclass
from typing import Any, Final

import zmq
from parsl.executors.high_throughput import zmq_pipes
from parsl.executors.high_throughput.errors import CommandClientBadError, CommandClientTimeoutError
from parsl.executors.high_throughput.executor import (
    DEFAULT_LAUNCH_CMD,
    HighThroughputExecutor,
    HTEXFuture,
)
from parsl.jobs.states import TERMINAL_STATES
from parsl.launchers import SimpleLauncher, SingleNodeLauncher, WrappedLauncher
from parsl.providers import LocalProvider
from parsl.serialize import pack_apply_message
from parsl.serialize.errors import SerializationError

from parsl_affinity_htex._children import import_path_argv
from parsl_affinity_htex._errors import InsecureTransportWarning, InterchangeLost
from parsl_affinity_htex._log import kv
from parsl_affinity_htex._logging import parsl_log
from parsl_affinity_htex._node_name import resolve_node_name
from parsl_affinity_htex._node_store import DataPlane, NodeResults
from parsl_affinity_htex._protocol import NODES_COMMAND, STATS_COMMAND
from parsl_affinity_htex._spec import (
    AFFINITY_CONTEXT_KEY,
    AffinityMode,
    check_default_affinity,
    parse_allowed_nodes,
    parse_resource_spec,
)
from parsl_affinity_htex._task import TASK_EXECUTOR, RecordedResult
from parsl_affinity_htex._types import (
    AffinityStats,
    ConnectedNode,
    ExpectedNodes,
    NodeChange,
    RunRecord,
    _check_names,
)

__all__ = [
    "AffinityFuture",
    "AffinityHighThroughputExecutor",
    "default_interchange_launch_cmd",
    "default_worker_launch_cmd",
]

log = logging.getLogger(__name__)

_UPSTREAM_POOL_SCRIPT: Final = "process_worker_pool.py "
NodeListener = Callable[[NodeChange], None]
#: What ``encrypted=False`` exposes, said once as a Python warning and once in the run's parsl.log.
UNENCRYPTED_EXPOSURE: Final = (
    "encrypted=False: task and result traffic is plain, unauthenticated ZeroMQ. Anyone who can reach the "
    "worker port can register a worker pool, receive pickled tasks (functions and arguments) and send back "
    "pickled results that the driver unpickles, i.e. run code in the driver. Use it only for tests on a "
    "trusted network; allowed_nodes limits which node names may register but is no authentication."
)


def _template_literal(text: str) -> str:
    """``text`` as a literal in the pool command template, which upstream ``str.format``s twice.

    (Once in ``initialize_scaling`` with the executor's settings, once per block with ``block_id``.)
    """
    return text.replace("{", "{{{{").replace("}", "}}}}")


def default_worker_launch_cmd(python: str = sys.executable, *, import_path: bool = True) -> str:
    """Upstream's pool launch command template, running our pool with ``python -m`` instead of a script.

    ``import_path``: prefix ``env PYTHONPATH=<this process's import path>`` (see ``_children``), for pools
    started on this machine; off for pools on other machines, whose own environment must stay in charge.
    """
    if not DEFAULT_LAUNCH_CMD.startswith(_UPSTREAM_POOL_SCRIPT):
        raise RuntimeError(f"unexpected upstream DEFAULT_LAUNCH_CMD {DEFAULT_LAUNCH_CMD!r}; parsl changed?")
    argv = [*(import_path_argv() if import_path else ()), python]
    return (
        _template_literal(shlex.join(argv))
        + " -m parsl_affinity_htex.worker_pool "
        + DEFAULT_LAUNCH_CMD[len(_UPSTREAM_POOL_SCRIPT) :]
    )


def default_interchange_launch_cmd(
    grace_period: float,
    python: str = sys.executable,
    allowed_nodes: Mapping[str, int | None] | Iterable[str] | None = None,
    *,
    import_path: bool = True,
) -> list[str]:
    """``[env PYTHONPATH=...] python -m parsl_affinity_htex.interchange --grace-period S [--allowed-nodes JSON]``.

    The interchange always runs on this machine, as a child of the executor: ``import_path`` (default on)
    hands it this process's import path without touching ``os.environ``. Upstream's constructor keyword
    arguments still arrive pickled on stdin.
    """
    cmd = [*(import_path_argv() if import_path else ()), python, "-m", "parsl_affinity_htex.interchange"]
    cmd += ["--grace-period", repr(float(grace_period))]
    allowed = parse_allowed_nodes(allowed_nodes)
    if allowed is not None:
        cmd += ["--allowed-nodes", json.dumps(allowed, sort_keys=True)]
    return cmd


def _starts_pools_here(provider: object) -> bool:
    """Whether the pools this provider starts run on this machine (upstream's default is a LocalProvider)."""
    return provider is None or isinstance(provider, LocalProvider)


#: Launchers that run a block's pools on the machine the provider runs them on (not across an allocation).
_SINGLE_NODE_LAUNCHERS: Final = (SingleNodeLauncher, SimpleLauncher, WrappedLauncher)


def _pools_on_this_machine(provider: object) -> bool:
    """Whether every pool of ``provider`` runs on this machine: a LocalProvider with a single-node launcher.

    A LocalProvider with, say, SrunLauncher spreads each block over the nodes of the allocation it runs in.
    """
    return isinstance(provider, LocalProvider) and isinstance(provider.launcher, _SINGLE_NODE_LAUNCHERS)


def _node_name_option(launch_cmd: str) -> str | None:
    """The ``--node-name`` a pool launch command passes (the last one, as argparse takes it), if any."""
    try:
        words = shlex.split(launch_cmd)
    except ValueError:  # unbalanced quotes: no option we could read
        return None
    found = None
    for word, following in zip(words, [*words[1:], None], strict=True):
        if word == "--node-name" and following is not None:
            found = following
        elif word.startswith("--node-name="):
            found = word.partition("=")[2]
    return found


@dataclass
class _BlockInfo:
    tasks: int = 0  # tasks on the block's managers (plus tasks queued for its node)
    idle: float = float("inf")  # shortest idle time of any manager in the block


class AffinityFuture(HTEXFuture):  # type: ignore[misc]
    """HTEx future whose result is the task's plain value; ``run_record`` says where and when it ran.

    With a data plane, a result kept in its node's store is a ProxyStore ``Proxy`` of it (it resolves when
    used; ``run_record.output_store`` says where it is).
    """

    def __init__(self, task_id: int, node_results: NodeResults | None = None) -> None:
        super().__init__(task_id)
        self.run_record: RunRecord | None = None
        self._node_results = node_results

    def set_result(self, result: Any) -> None:
        if isinstance(result, RecordedResult):
            self.run_record = result.record
            result = result.value
            if self.run_record.output_store is not None and self._node_results is not None:
                self._node_results.track(result)
        super().set_result(result)


class _WatchedCommandClient:
    """Upstream's CommandClient protocol (REQ socket, one lock), but a call never outlives the interchange.

    Upstream's ``run`` blocks forever when the interchange is gone; the job-status poller and scale-in at
    shutdown then hang. Here the reply is awaited in slices, checking the interchange process between them.
    """

    def __init__(
        self, inner: zmq_pipes.CommandClient, alive: Callable[[], bool], slice_s: float = 0.25
    ) -> None:
        self._inner = inner
        self._alive = alive
        self._slice_ms = int(slice_s * 1000)

    @property
    def port(self) -> int:
        port: Any = self._inner.port
        return int(port)

    def _wait(self, flag: int, deadline: float | None, what: str) -> None:
        sock = self._inner.zmq_socket
        while not sock.poll(timeout=self._slice_ms, flags=flag):
            if not self._alive():
                self._inner.ok = False
                raise InterchangeLost(f"interchange process exited while {what}")
            if deadline is not None and time.monotonic() > deadline:
                self._inner.ok = False
                raise CommandClientTimeoutError(f"timed out {what}")

    def run(self, message: Any, max_retries: int = 3, timeout_s: float | None = None) -> Any:
        # ---- BEGIN adapted from parsl 2026.10.26 zmq_pipes.CommandClient.run (listed in _upstream.py) ----
        if not self._inner.ok:
            if not self._alive():
                raise InterchangeLost(f"interchange process is gone; cannot run command {message!r}")
            raise CommandClientBadError()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._inner._lock:
            self._wait(zmq.POLLOUT, deadline, f"sending command {message!r}")
            self._inner.zmq_socket.send_pyobj(message, copy=True)
            self._wait(zmq.POLLIN, deadline, f"waiting for the reply to command {message!r}")
            return self._inner.zmq_socket.recv_pyobj()
        # ---- END adapted block ----

    def close(self) -> None:
        self._inner.close()


class AffinityHighThroughputExecutor(HighThroughputExecutor):  # type: ignore[misc]
    """HighThroughputExecutor with per-task node affinity (``node``/``affinity``/``priority`` resource keys).

    Parameters beyond upstream's:

    affinity_grace_period
        Seconds a node may have no live worker pool before its queued soft tasks run elsewhere and its hard
        tasks fail with NodeUnavailable.
    default_affinity
        Mode for tasks that name a node but no ``affinity``: ``"soft"`` (default) or ``"hard"``.
    node_poll_period
        How often connected nodes are polled to notify node listeners (seconds).
    watchdog_period
        How often the interchange process is checked (seconds).
    allowed_nodes
        ``None`` (any node), node names, or ``{name: max_pools}`` (``None``: any number of pools). A pool that
        claims another node name, or one pool too many, is told to shut down and listed in ``affinity_stats()``.
    data_plane
        ``None`` (default: results go through the driver, as in upstream HTEx) or a ``DataPlane``: results of
        its threshold or more stay in their node's store and the future holds a proxy (see ``_node_store``).
        Pools need a node store then (``--start-node-store HOST`` or ``--node-store HOST:PORT`` on the pool
        command; ``LocalVirtualCluster(..., data_plane=...)`` adds it); a pool without one sends results
        through the driver.

    ``launch_cmd`` and ``interchange_launch_cmd`` default to ``python -m parsl_affinity_htex.worker_pool`` and
    ``python -m parsl_affinity_htex.interchange`` with this interpreter. The default interchange command, and
    the default pool command when the provider is a ``LocalProvider`` (pools on this machine), carry this
    process's import path (``env PYTHONPATH=...``, see ``child_pythonpath``); a given command is used as is.
    Encryption stays on by default;
    ``encrypted=False`` emits an InsecureTransportWarning saying what it exposes, and logs it in parsl.log.
    All other keyword arguments go to HighThroughputExecutor.
    """

    def __init__(
        self,
        label: str = "AffinityHighThroughputExecutor",
        *,
        affinity_grace_period: float = 30.0,
        default_affinity: AffinityMode = "soft",
        encrypted: bool = True,
        launch_cmd: str | None = None,
        interchange_launch_cmd: Sequence[str] | None = None,
        node_poll_period: float = 1.0,
        watchdog_period: float = 0.5,
        allowed_nodes: Mapping[str, int | None] | Iterable[str] | None = None,
        data_plane: DataPlane | None = None,
        **kwargs: Any,
    ) -> None:
        for name, value, minimum in (
            ("affinity_grace_period", affinity_grace_period, 0.0),
            ("node_poll_period", node_poll_period, 1e-3),
            ("watchdog_period", watchdog_period, 1e-3),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not minimum <= value < float("inf")
            ):
                raise ValueError(f"{name} must be a finite number >= {minimum:g} seconds, got {value!r}")
        self.default_affinity: AffinityMode = check_default_affinity(default_affinity)
        self.affinity_grace_period = float(affinity_grace_period)
        self.node_poll_period = float(node_poll_period)
        self.watchdog_period = float(watchdog_period)
        self.allowed_nodes = parse_allowed_nodes(allowed_nodes)
        if data_plane is not None and not isinstance(data_plane, DataPlane):
            raise TypeError(
                f"data_plane must be a parsl_affinity_htex.DataPlane or None, got {type(data_plane).__name__} "
                f"{data_plane!r}"
            )
        self.data_plane = data_plane
        self._node_results: NodeResults | None = None
        if interchange_launch_cmd is not None and self.allowed_nodes is not None:
            raise ValueError(
                "allowed_nodes is passed to the interchange on its command line; with a custom "
                "interchange_launch_cmd add --allowed-nodes there instead"
            )
        super().__init__(
            label=label,
            encrypted=encrypted,
            launch_cmd=launch_cmd
            or default_worker_launch_cmd(import_path=_starts_pools_here(kwargs.get("provider"))),
            interchange_launch_cmd=(
                interchange_launch_cmd
                or default_interchange_launch_cmd(
                    self.affinity_grace_period, allowed_nodes=self.allowed_nodes
                )
            ),
            **kwargs,
        )
        if not encrypted:
            warnings.warn(
                f"executor {label!r}: {UNENCRYPTED_EXPOSURE}", InsecureTransportWarning, stacklevel=2
            )
        self._node_listeners: list[NodeListener] = []
        self._known_nodes: dict[str, ConnectedNode] = {}
        self._stop_threads = threading.Event()
        self._threads: list[threading.Thread] = []
        self._interchange_lost: InterchangeLost | None = None
        self._shutting_down = False

    # ----- submission ----------------------------------------------------------------------------------------
    def validate_resource_spec(self, resource_specification: dict[str, Any]) -> None:
        """Accept ``node`` (or its alias, _spec.LEGACY_NODE_KEY), ``affinity`` and numeric ``priority``; raise AffinitySpecError."""
        parse_resource_spec(resource_specification, self.default_affinity)

    def submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], *args: Any, **kwargs: Any
    ) -> AffinityFuture:
        """Validate the placement request, then queue the task like upstream HTEx does.

        The returned future resolves to the function's plain return value and carries ``run_record``.
        """
        affinity = parse_resource_spec(resource_specification, self.default_affinity)
        # ---- BEGIN adapted from parsl 2026.10.26 HighThroughputExecutor.submit (listed in _upstream.py) ----
        try:
            fn_buf = pack_apply_message(func, args, kwargs, buffer_threshold=1 << 20)
        except TypeError:
            raise SerializationError(func.__name__) from None
        context: dict[str, Any] = {"task_executor": {"f": TASK_EXECUTOR}}
        if self.data_plane is not None:
            context["task_executor"]["k"] = {
                "store_threshold": self.data_plane.threshold_bytes,
                "fetch_timeout": self.data_plane.fetch_timeout,
            }
        if affinity.priority is not None:
            context["resource_spec"] = {"priority": affinity.priority}
        if affinity.node is not None:
            context[AFFINITY_CONTEXT_KEY] = (affinity.node, affinity.hard)
        return self.submit_payload(context, fn_buf)
        # ---- END adapted block ----

    def submit_payload(self, context: dict[str, Any], buffer: bytes) -> AffinityFuture:
        """Upstream's submit_payload, creating an AffinityFuture."""
        # ---- BEGIN copied from parsl 2026.10.26 HighThroughputExecutor.submit_payload (listed in _upstream.py) ----
        if self.bad_state_is_set:
            raise self.executor_exception
        self._task_counter += 1
        task_id = self._task_counter
        fut = AffinityFuture(task_id, self._node_results)
        self.tasks[task_id] = fut
        msg = {"task_id": task_id, "context": context, "buffer": buffer}
        self.outgoing_q.put(msg)
        return fut
        # ---- END copied block ----

    # ----- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start upstream HTEx, then guard the command channel and start the watchdog and node watcher."""
        if self.data_plane is not None:
            self._node_results = NodeResults(self.data_plane.fetch_timeout)
        super().start()
        if not self.encrypted:  # now that the DFK's parsl.log exists
            parsl_log.warning("executor %r: %s", self.label, UNENCRYPTED_EXPOSURE)
        self.command_client = _WatchedCommandClient(  # type: ignore[assignment]
            self.command_client, self._interchange_alive
        )
        for target, name in ((self._watch_interchange, "watchdog"), (self._watch_nodes, "node-watcher")):
            thread = threading.Thread(target=target, name=f"{self.label}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "executor.started %s",
            kv(
                label=self.label,
                interchange_pid=self.interchange_proc.pid if self.interchange_proc else None,
                worker_port=self.worker_port,
                encrypted=self.encrypted,
                grace_period=self.affinity_grace_period,
            ),
        )

    def _interchange_alive(self) -> bool:
        proc = self.interchange_proc
        return proc is not None and proc.poll() is None

    def _watch_interchange(self) -> None:
        while not self._stop_threads.wait(self.watchdog_period):
            proc = self.interchange_proc
            if proc is None or proc.poll() is None:
                continue
            if self._shutting_down:
                return
            outstanding = len(self.tasks)
            exc = InterchangeLost(
                f"interchange process (pid {proc.pid}) of executor {self.label!r} exited with code "
                f"{proc.returncode}; {outstanding} outstanding task(s) failed and no new task can run"
            )
            log.error(
                "interchange.lost %s",
                kv(label=self.label, pid=proc.pid, returncode=proc.returncode, outstanding=outstanding),
            )
            self._interchange_lost = exc
            self.set_bad_state_and_fail_all(exc)
            return

    def set_bad_state_and_fail_all(self, exception: Exception) -> None:
        """Like upstream, but fails futures with the cause itself and tolerates futures finishing meanwhile."""
        # ---- BEGIN adapted from parsl 2026.10.26 BlockProviderExecutor.set_bad_state_and_fail_all ----
        self._executor_exception = exception
        self._executor_bad_state.set()
        for fut in list(self._tasks.values()):
            with contextlib.suppress(InvalidStateError):  # finished while we were failing the others
                fut.set_exception(exception)
        # ---- END adapted block ----

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop our threads; if the interchange died, also cancel the pools (the DFK skips scale-in then)."""
        self._shutting_down = True
        if self._node_results is not None and self._interchange_lost is None:
            # first, while the pools and their stores still run: results the caller still holds are fetched
            # (they stay usable), then every stored result is evicted
            self._node_results.close()
        self._stop_threads.set()
        # Join before upstream closes the command client: ZeroMQ sockets must not be closed under a thread
        # that is using them (the node watcher may be mid-command; it returns within a poll slice).
        for thread in self._threads:
            thread.join(timeout=10)
        if self._interchange_lost is not None:
            outgoing = getattr(self, "outgoing_q", None)
            if outgoing is not None:  # undeliverable task messages must not block closing the socket
                outgoing.zmq_socket.setsockopt(zmq.LINGER, 0)
            self._cancel_all_blocks()
        super().shutdown(timeout=timeout)
        log.info(
            "executor.shutdown %s", kv(label=self.label, interchange_lost=self._interchange_lost is not None)
        )

    def _cancel_all_blocks(self) -> None:
        if self.provider is None:
            return
        job_ids = [
            job_id
            for block_id, job_id in list(self.blocks_to_job_id.items())
            if not (st := self._status.get(block_id)) or not st.terminal
        ]
        if job_ids:
            try:
                self.provider.cancel(job_ids)
            except Exception as e:  # best effort: pools also exit on their own after heartbeat_threshold
                log.warning("executor.cancel_failed %s", kv(label=self.label, job_ids=job_ids, error=repr(e)))

    # ----- introspection -------------------------------------------------------------------------------------
    def expected_nodes(self) -> ExpectedNodes:
        """The nodes this executor expects to connect once its provider's blocks are up.

        For planners that must wait for the whole cluster before their first plan. Only the provider is asked
        (no interchange), so it works before ``start()``:

        * a provider with a callable ``expected_node_names()`` knows its nodes by name
          (LocalVirtualClusterProvider: its virtual nodes; k8s-topology's PinnedKubernetesProvider: the
          schedulable nodes it pins pods to): exactly those (count = len);
        * a LocalProvider with a single-node launcher starts every pool on this machine, and they all register
          as one node, under the name ``worker_pool`` gives a pool without ``--node-name`` (``PARSL_NODE_NAME``,
          else the hostname) -- worked out here with the same function and this process's environment, which
          the pools inherit (a ``--node-name`` in ``launch_cmd`` is honoured; one set in ``worker_init`` is not
          seen): 1 named node;
        * any other provider (a batch system) starts ``max(init_blocks, min_blocks)`` blocks up front (Parsl
          submits ``init_blocks`` at start, its strategy keeps ``min_blocks``) of ``nodes_per_block`` nodes
          each, on nodes the batch system picks when the jobs run: that many, unnamed.

        When no block starts up front (``init_blocks == min_blocks == 0``) nothing is expected (count 0):
        blocks then come only on demand, for tasks a waiting planner would never release.

        With ``allowed_nodes`` only the allow-list's nodes can connect (the interchange refuses other pools):
        named nodes are intersected with it (a named node outside it is dropped, with a warning: its pool will
        be refused); unnamed nodes become the allow-list's names when there are at least as many of them as
        listed names (more could not connect), else they stay unnamed: which of the listed nodes the batch
        system picks is not known, and naming them all would make a planner wait for nodes that never come.
        """
        provider = self.provider
        names_of = getattr(provider, "expected_node_names", None)
        names: frozenset[str]
        if callable(names_of):
            source = "provider"
            names = _check_names(names_of(), f"{type(provider).__name__}.expected_node_names()")
            unnamed = 0
        else:
            blocks = max(int(getattr(provider, "init_blocks", 0)), int(getattr(provider, "min_blocks", 0)))
            if _pools_on_this_machine(provider):
                source = "this_machine"
                names = frozenset({resolve_node_name(_node_name_option(self.launch_cmd))} if blocks else ())
                unnamed = 0
            else:
                source = "blocks"
                names = frozenset()
                unnamed = blocks * int(getattr(provider, "nodes_per_block", 1))
        if self.allowed_nodes is not None:
            allowed = frozenset(self.allowed_nodes)
            refused = sorted(names - allowed)
            if refused:
                log.warning(
                    "expected_nodes.not_allowed %s",
                    kv(label=self.label, source=source, refused=refused, allowed=sorted(allowed)),
                )
            names &= allowed
            if unnamed >= len(allowed):
                names, unnamed = allowed, 0
        expected = ExpectedNodes(names=names, count=len(names) + unnamed)
        log.info(
            "executor.expected_nodes %s",
            kv(label=self.label, source=source, names=sorted(expected.names), count=expected.count),
        )
        return expected

    def connected_blocks(self) -> list[str]:
        if self._interchange_lost is not None:
            return []
        try:
            return list(super().connected_blocks())
        except InterchangeLost:
            return []

    def connected_managers(self) -> list[dict[str, Any]]:
        if self._interchange_lost is not None:
            return []
        try:
            return list(super().connected_managers())
        except InterchangeLost:
            return []

    def connected_nodes(self) -> dict[str, ConnectedNode]:
        """Nodes with at least one live pool, with their worker slots and pool counts."""
        if self._interchange_lost is not None:
            raise self._interchange_lost
        reply = self.command_client.run(NODES_COMMAND)
        if not isinstance(reply, dict):
            raise RuntimeError(
                f"interchange answered {NODES_COMMAND!r} with {reply!r}; is interchange_launch_cmd "
                "running parsl_affinity_htex.interchange?"
            )
        return {
            name: ConnectedNode(
                name=name,
                slots=int(info["slots"]),
                pools=int(info["pools"]),
                stores=tuple(info.get("stores") or ()),
            )
            for name, info in sorted(reply.items())
        }

    def affinity_stats(self) -> AffinityStats:
        """What the affinity policy did so far (stolen, fallen back, failed, re-queued) and unusable pools."""
        if self._interchange_lost is not None:
            raise self._interchange_lost
        reply = self.command_client.run(STATS_COMMAND)
        return AffinityStats(
            stolen=int(reply["stolen"]),
            fell_back=int(reply["fell_back"]),
            failed_hard=int(reply["failed_hard"]),
            requeued=int(reply["requeued"]),
            queued_tagged=int(reply["queued_tagged"]),
            zero_worker_pools=tuple(reply["zero_worker_pools"]),
            rejected_pools=tuple(reply["rejected_pools"]),
            bytes_from_pools=int(reply.get("bytes_from_pools", 0)),
            bytes_to_pools=int(reply.get("bytes_to_pools", 0)),
        )

    def _nodes_report(self) -> dict[str, dict[str, Any]]:
        """The interchange's node table (empty if it cannot be asked: scale-in proceeds as upstream's would)."""
        try:
            report = self.command_client.run(NODES_COMMAND)
        except Exception as e:
            log.warning("scale_in.nodes_unknown %s", kv(label=self.label, error=repr(e)))
            return {}
        return report if isinstance(report, dict) else {}

    @staticmethod
    def _blocks_with_queued_work(report: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        """Block id -> tagged tasks queued for its node (shared by every block of that node)."""
        return {
            block: int(info["queued"])
            for info in report.values()
            if info.get("queued")
            for block in info.get("blocks", ())
        }

    def scale_in(self, blocks: int, max_idletime: float | None = None) -> list[str]:
        """Upstream's scale-in, counting the work queued for a block's node as that block's work.

        A block whose node has planned (tagged) tasks waiting is then neither idle nor picked first, so
        Parsl's strategy does not scale in the pools that work was pinned to.
        """
        report = self._nodes_report()
        queued = self._blocks_with_queued_work(report)
        # ---- BEGIN adapted from parsl 2026.10.26 HighThroughputExecutor.scale_in (listed in _upstream.py) ----
        # changes: tasks queued for a block's node count as its tasks; no nested dataclass; key=value log events.

        block_info: dict[str, _BlockInfo] = defaultdict(_BlockInfo)
        for block_id, job_status in self._status.items():
            if job_status.state not in TERMINAL_STATES:
                block_info[block_id] = _BlockInfo()

        for manager in self.connected_managers():
            if not manager["active"]:
                continue
            b_id = manager["block_id"]
            block_info[b_id].tasks += manager["tasks"]
            block_info[b_id].idle = min(block_info[b_id].idle, manager["idle_duration"])
        for b_id, count in queued.items():
            if b_id in block_info:
                block_info[b_id].tasks += count
                block_info[b_id].idle = 0.0

        sorted_blocks = sorted(block_info.items(), key=lambda item: (-item[1].idle, item[1].tasks))
        if max_idletime is None:
            block_ids_to_kill = [x[0] for x in sorted_blocks[:blocks]]
        else:
            block_ids_to_kill = []
            for x in sorted_blocks:
                if x[1].idle > max_idletime and x[1].tasks == 0:
                    block_ids_to_kill.append(x[0])
                    if len(block_ids_to_kill) == blocks:
                        break
            if len(block_ids_to_kill) < blocks:
                log.info(
                    "scale_in.fewer_blocks %s",
                    kv(
                        label=self.label,
                        wanted=blocks,
                        selected=len(block_ids_to_kill),
                        protected_by_queued_work=sorted(queued),
                    ),
                )

        for block_id in block_ids_to_kill:
            self._hold_block(block_id)

        if self._node_results is not None and block_ids_to_kill:
            # a block's node store goes with it: results the caller still holds are fetched first
            doomed = set(block_ids_to_kill)
            self._node_results.fetch_held(
                {
                    store
                    for info in report.values()
                    if doomed & set(info.get("blocks", ()))
                    for store in info.get("stores", ())
                }
            )

        to_kill = [self.blocks_to_job_id[bid] for bid in block_ids_to_kill if bid in self.blocks_to_job_id]
        assert self.provider is not None, "htex always has a provider"
        r = self.provider.cancel(to_kill)
        job_ids = self._filter_scale_in_ids(to_kill, r)
        return [self.job_ids_to_block[jid] for jid in job_ids]
        # ---- END adapted block ----

    def add_node_listener(self, callback: NodeListener) -> None:
        """Call ``callback(NodeChange)`` when a node gains its first or loses its last live pool.

        Called from a daemon thread every ``node_poll_period`` seconds at most; exceptions are logged. Only
        changes are reported: read ``connected_nodes()`` for the nodes already connected when adding it.
        """
        if not callable(callback):
            raise TypeError(f"node listener must be callable, got {callback!r}")
        self._node_listeners.append(callback)

    def _watch_nodes(self) -> None:
        while not self._stop_threads.wait(self.node_poll_period):
            if self.bad_state_is_set:
                return
            try:
                nodes = self.connected_nodes()
            except Exception as e:
                if not self._shutting_down and not self.bad_state_is_set:
                    log.warning("nodes.poll_failed %s", kv(label=self.label, error=repr(e)))
                continue
            changes = [NodeChange("joined", n) for name, n in nodes.items() if name not in self._known_nodes]
            changes += [NodeChange("lost", n) for name, n in self._known_nodes.items() if name not in nodes]
            self._known_nodes = nodes
            for change in changes:
                log.info(
                    "node.changed %s",
                    kv(label=self.label, kind=change.kind, node=change.node.name, slots=change.node.slots),
                )
                for listener in list(self._node_listeners):
                    try:
                        listener(change)
                    except Exception as e:
                        log.error("node.listener_failed %s", kv(listener=repr(listener), error=repr(e)))
