"""A multi-node cluster on one machine: one node-labelled worker pool per named node.

Gives users, tests and the demo real multi-node behaviour (separate pools, registration, heartbeats, pool loss)
with no cluster. It is an ordinary Parsl provider, so Parsl's scaling code starts the pools (one block per
node) and cancels them at cleanup like any other block.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import shlex
import shutil
import signal
from collections.abc import Mapping
from typing import Any

import psutil
from parsl.providers import LocalProvider

from parsl_affinity_htex._children import carry_import_path
from parsl_affinity_htex._errors import InvalidClusterSpecError, InvalidDataPlaneError
from parsl_affinity_htex._executor import AffinityHighThroughputExecutor
from parsl_affinity_htex._log import kv

__all__ = ["LocalVirtualCluster", "LocalVirtualClusterProvider"]

log = logging.getLogger(__name__)

_BLOCK_ID = re.compile(r"--block_id=(\S+)")


#: Provider options LocalVirtualClusterProvider sets itself: one block per node, one node per block.
_FIXED_OPTIONS = ("init_blocks", "min_blocks", "max_blocks", "nodes_per_block")


def _check_nodes(nodes: Mapping[str, int]) -> dict[str, int]:
    """``nodes`` as a plain dict, or InvalidClusterSpecError naming the bad part and what was expected."""
    if not isinstance(nodes, Mapping):
        raise InvalidClusterSpecError(
            f"nodes must be a mapping of node name -> worker slots (e.g. {{'node-a': 2}}), "
            f"got {type(nodes).__name__} {nodes!r}"
        )
    if not nodes:
        raise InvalidClusterSpecError(
            "nodes must be a non-empty mapping of node name -> worker slots (e.g. {'node-a': 2}), "
            f"got {nodes!r}, which names no node"
        )
    checked: dict[str, int] = {}
    for name, slots in nodes.items():
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise InvalidClusterSpecError(
                f"node name must be a non-empty string without whitespace, got {name!r}"
            )
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise InvalidClusterSpecError(f"slots of node {name!r} must be an integer >= 1, got {slots!r}")
        checked[name] = slots
    return checked


def _check_provider_options(options: Mapping[str, Any]) -> None:
    """Options LocalVirtualClusterProvider fixes itself, or that LocalProvider does not take, fail here."""
    for key in _FIXED_OPTIONS:
        if key in options:
            raise InvalidClusterSpecError(
                f"{key} is fixed by LocalVirtualClusterProvider (one block per node), got {key}={options[key]!r}"
            )
    accepted = sorted(
        name
        for name in inspect.signature(LocalProvider.__init__).parameters
        if name != "self" and name not in _FIXED_OPTIONS
    )
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidClusterSpecError(
            f"unknown provider option(s) {unknown}; LocalVirtualClusterProvider takes {accepted}"
        )


class LocalVirtualClusterProvider(LocalProvider):  # type: ignore[misc]
    """LocalProvider whose every block is one node's pool: ``--node-name X`` with that node's slots.

    Blocks are fixed at one per node (init = min = max). When Parsl launches a block, the provider gives it the
    first node (in declaration order) without a running block, so a replacement block takes over a lost node.
    Every pool runs on this machine with this process's import path (``env PYTHONPATH=...``, whatever the
    executor's ``launch_cmd``; a command that already starts ``env PYTHONPATH=`` keeps its own).
    ``node_stores=True``: every pool starts its node's store (``--start-node-store 127.0.0.1``: one
    redis-server per virtual node, on its own port, killed with the node) for an executor's data plane.
    """

    def __init__(self, nodes: Mapping[str, int], *, node_stores: bool = False, **kwargs: Any) -> None:
        self.nodes = _check_nodes(nodes)
        if not isinstance(node_stores, bool):
            raise InvalidClusterSpecError(f"node_stores must be True or False, got {node_stores!r}")
        if node_stores and shutil.which("redis-server") is None:
            # the pools run here: say so now, not as a pool that fails to start behind a generic job error
            raise InvalidDataPlaneError(
                "node stores need redis-server on PATH on this machine, which runs every virtual node's pool "
                "(Debian/Ubuntu: apt-get install redis-server)"
            )
        self.node_stores = node_stores
        count = len(self.nodes)
        _check_provider_options(kwargs)
        super().__init__(init_blocks=count, min_blocks=count, max_blocks=count, nodes_per_block=1, **kwargs)
        self.job_nodes: dict[str, str] = {}
        self._job_started: dict[str, float] = {}  # job id -> psutil create_time of its pool process

    def expected_node_names(self) -> list[str]:
        """Every virtual node, in declaration order: each gets its own pool (one block per node, all at start).

        What ``AffinityHighThroughputExecutor.expected_nodes()`` reports, so a planner waits for all of them
        rather than for the one machine they share.
        """
        return list(self.nodes)

    def _node_for_new_block(self) -> str:
        running = set()
        if self.job_nodes:
            job_ids = list(self.job_nodes)
            for job_id, status in zip(job_ids, self.status(job_ids), strict=True):
                if status is not None and not status.terminal:
                    running.add(self.job_nodes[job_id])
        for node in self.nodes:
            if node not in running:
                return node
        raise RuntimeError(
            f"every node of the virtual cluster {sorted(self.nodes)} already has a running pool"
        )

    def submit(self, command: str, tasks_per_node: int, job_name: str = "parsl.localprovider") -> str:
        """Launch ``command`` as the pool of the next node without a running pool."""
        node = self._node_for_new_block()
        slots = self.nodes[node]
        # PARSL_CORES makes the pool size its workers by the node's slots, not by this machine's cores.
        node_cmd = (
            f"PARSL_CORES={slots} {carry_import_path(command)} --node-name {shlex.quote(node)} "
            f"--max_workers_per_node={slots}"
        )
        if self.node_stores:
            node_cmd += " --start-node-store 127.0.0.1"
        job_id = str(super().submit(node_cmd, tasks_per_node, job_name=f"{job_name}.{node}"))
        self.job_nodes[job_id] = node
        with contextlib.suppress(psutil.Error, KeyError, TypeError, ValueError):
            self._job_started[job_id] = psutil.Process(
                int(self.resources[job_id]["remote_pid"])
            ).create_time()
        block = _BLOCK_ID.search(command)
        log.info(
            "virtual_node.started %s",
            kv(node=node, slots=slots, job_id=job_id, block_id=block.group(1) if block else None),
        )
        return job_id

    def jobs_of(self, node: str) -> list[str]:
        """Job ids (pool launches) that ran or run ``node``'s pool, oldest first."""
        if not isinstance(node, str) or node not in self.nodes:
            raise InvalidClusterSpecError(
                f"unknown virtual node {node!r}; expected one of {sorted(self.nodes)}"
            )
        return [job_id for job_id, n in self.job_nodes.items() if n == node]

    def _running_group(self, job_id: str) -> int | None:
        """The process group of ``job_id``'s pool if that very process still runs, else None.

        A job that ended may have its pid (= process group id) reused by an unrelated process: the pid is
        trusted only while the process has the start time recorded when the pool was launched.
        """
        job = self.resources.get(job_id) or {}
        pid = job.get("remote_pid")
        started = self._job_started.get(job_id)
        if pid is None or started is None:
            return None
        try:
            proc = psutil.Process(int(pid))
            if proc.create_time() != started or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return os.getpgid(proc.pid)
        except (psutil.Error, ProcessLookupError):
            return None

    def kill_node(self, node: str, sig: int = signal.SIGKILL) -> None:
        """Kill ``node``'s running pool and its workers (process group) -- simulates losing a machine."""
        try:
            sig = signal.Signals(sig)
        except (TypeError, ValueError):
            raise InvalidClusterSpecError(
                f"sig must be a signal number (e.g. signal.SIGKILL), got {sig!r}"
            ) from None
        killed = False
        for job_id in self.jobs_of(node):
            group = self._running_group(job_id)
            if group is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
                killed = True
        log.warning("virtual_node.killed %s", kv(node=node, signal=int(sig), found=killed))
        if not killed:
            raise ProcessLookupError(f"virtual node {node!r} has no running pool to kill")

    def kill_all(self) -> None:
        """SIGKILL every still-running pool this provider started (last-resort teardown for tests and crashes)."""
        for job_id in list(self.resources):
            group = self._running_group(str(job_id))
            if group is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)


class LocalVirtualCluster:
    """Describe a virtual cluster, e.g. ``LocalVirtualCluster({"node-a": 2, "node-b": 2, "node-c": 1})``.

    ``.executor(label=..., **kwargs)`` returns a ready AffinityHighThroughputExecutor whose provider starts one
    node-labelled pool per node (slots = worker processes); ``.provider()`` gives just the provider.
    """

    def __init__(self, nodes: Mapping[str, int]) -> None:
        self.nodes = _check_nodes(nodes)

    def provider(self, *, node_stores: bool = False, **kwargs: Any) -> LocalVirtualClusterProvider:
        return LocalVirtualClusterProvider(self.nodes, node_stores=node_stores, **kwargs)

    def executor(
        self,
        label: str = "affinity_htex",
        *,
        provider_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AffinityHighThroughputExecutor:
        """An AffinityHighThroughputExecutor on this cluster; ``kwargs`` go to the executor.

        With ``data_plane=DataPlane(...)`` every virtual node also runs its own node store.
        """
        if not isinstance(label, str) or not label.strip():
            raise InvalidClusterSpecError(f"label must be a non-empty string, got {label!r}")
        if "provider" in kwargs:
            raise InvalidClusterSpecError(
                "LocalVirtualCluster.executor() makes its own provider; pass provider_options instead, "
                f"got provider={kwargs['provider']!r}"
            )
        if provider_options is not None and not isinstance(provider_options, Mapping):
            raise InvalidClusterSpecError(
                "provider_options must be a mapping of LocalProvider options or None, "
                f"got {type(provider_options).__name__} {provider_options!r}"
            )
        kwargs.setdefault("max_workers_per_node", max(self.nodes.values()))
        # Every pool is a process on this machine: a lost one is noticed in seconds, not in upstream's
        # two minutes (heartbeat_threshold=120), which would hold its tasks that long.
        kwargs.setdefault("heartbeat_period", 2)
        kwargs.setdefault("heartbeat_threshold", 20)
        # All pools run on this machine: loopback only. Probing every interface (upstream's default) can pick
        # an address of some other namespace's bridge that accepts the probe but not the pool's connection.
        kwargs.setdefault("address", "127.0.0.1")
        stores = kwargs.get("data_plane") is not None
        return AffinityHighThroughputExecutor(
            label=label, provider=self.provider(node_stores=stores, **dict(provider_options or {})), **kwargs
        )

    def __repr__(self) -> str:
        return f"LocalVirtualCluster({self.nodes!r})"
