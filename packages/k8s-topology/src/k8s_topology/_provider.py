"""A Parsl KubernetesProvider whose worker-pool pods are pinned to named nodes.

What differs from Parsl's ``KubernetesProvider`` (parsl==2026.10.26), and how little is overridden:

* ``__init__``: upstream calls ``config.load_kube_config()`` (process-wide, and fatal without a
  kubeconfig) and ``client.CoreV1Api()``. We set the same attributes ourselves with an ``ApiClient`` of
  our choice (a given one, a kubeconfig, or in-cluster). Tests fingerprint upstream ``__init__`` and check
  that every attribute it assigns exists on ours.
* ``submit``: chooses the node for the block, then calls upstream ``submit`` unchanged.
* The single exit point upstream, ``kube_client.create_namespaced_pod(namespace=..., body=pod)``, goes to
  a ``CoreV1Api`` subclass that edits the pod body upstream's ``_create_pod`` built: node pinning,
  the node name from the downward API, tolerations, image pull policy, extra env. ``_create_pod`` itself
  is not copied.

Pinning uses a *required node affinity on ``metadata.name``* (``matchFields``), not ``nodeName`` and not
a ``kubernetes.io/hostname`` nodeSelector: ``nodeName`` bypasses the scheduler (no resource fit, taints
and cordons ignored, the pod fails instead of pending), and the hostname label is not guaranteed to equal
the node name. ``matchFields`` on the name is exact and still goes through the scheduler; it is what the
DaemonSet controller uses.

The worker command is the executor's launch command, passed through unchanged. The pod learns its node
from the downward API (``spec.nodeName``) in two variables: ``PARSL_NODE_NAME``, the documented variable
a node-aware worker pool reads (parsl-affinity-htex's does, without needing Kubernetes to be detected),
and ``NODE_NAME``, the Kubernetes convention worker images use. This package knows nothing of the pool.

Parsl is an optional dependency (``pip install 'k8s-topology[parsl]'``); only this module needs it, and
``k8s_topology`` imports this module only when ``PinnedKubernetesProvider`` is first asked for.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Never

from kubernetes import client

from k8s_topology._log import kv

try:
    from parsl.providers import KubernetesProvider
    from parsl.providers.base import ExecutionProvider
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without parsl
    raise ImportError(
        f"k8s_topology.PinnedKubernetesProvider needs Parsl, which is an optional dependency of k8s-topology "
        f"({_exc}); install it with: pip install 'k8s-topology[parsl]'. Discovery, topology and watching "
        "work without it."
    ) from _exc

from k8s_topology._client import api_errors, host_of, make_api_client
from k8s_topology._discovery import NodeFilter, discover, reject_removed_keywords
from k8s_topology._sidecar import NodeStoreSidecar
from k8s_topology._topology import Topology
from k8s_topology.errors import InvalidOverride, NoNodeAvailable

log = logging.getLogger(__name__)

NODE_ANNOTATION = "saga.parsl.org/node"
#: Environment variables a pinned pod gets from the downward API (spec.nodeName): the documented one a
#: node-aware worker pool reads, and the Kubernetes convention for worker images.
NODE_NAME_VARIABLES = ("PARSL_NODE_NAME", "NODE_NAME")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def _toleration_model(tol: Mapping[str, Any]) -> client.V1Toleration:
    # Already checked by NodeFilter (keys, operator).
    return client.V1Toleration(
        key=tol.get("key"),
        operator=tol.get("operator"),
        value=tol.get("value"),
        effect=tol.get("effect"),
        toleration_seconds=tol.get("tolerationSeconds"),
    )


class _PinningCoreV1Api(client.CoreV1Api):  # type: ignore[misc]
    """CoreV1Api whose ``create_namespaced_pod`` lets the provider edit the body first."""

    def __init__(self, api_client: client.ApiClient, provider: PinnedKubernetesProvider) -> None:
        super().__init__(api_client)
        self._provider = provider

    def create_namespaced_pod(self, namespace: str, body: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._provider._pin_pod(body)
        with api_errors("create", "pods", host_of(self.api_client)):
            return super().create_namespaced_pod(namespace=namespace, body=body, **kwargs)


class PinnedKubernetesProvider(KubernetesProvider):  # type: ignore[misc]
    """One worker-pool pod per node (``pools_per_node`` per node at most), each pinned to its node.

    ``nodes``: the node names to serve; if None, :func:`k8s_topology.discover` picks the nodes
    ``node_filter`` accepts at construction (default ``NodeFilter()``: Ready, schedulable, untainted
    workers). The filter's tolerations (and, with ``include_control_plane``, the control-plane role
    taints) are put on every pod, so pods tolerate what discovery tolerated. ``init_blocks`` and
    ``max_blocks`` default to ``len(nodes) * pools_per_node`` so Parsl starts exactly one pool per node.
    Use ``submit_to(node, ...)`` to place a block on a chosen node.

    Every pod gets ``PARSL_NODE_NAME`` and ``NODE_NAME`` from the downward API (``spec.nodeName``); the
    command is the executor's, unchanged.

    The other arguments are upstream's (image, namespace, CPU/memory requests and limits, secret,
    volumes, service account, annotations, ...) plus ``image_pull_policy``, ``env`` (extra plain
    environment variables), credentials (``api_client``, ``kubeconfig``, ``context``) and
    ``node_store``: a :class:`NodeStoreSidecar` to run a node store (``redis-server``) in every pod, for
    an executor's data plane; the worker then gets the store's address (pod IP and port) in
    ``PARSL_NODE_STORE``, which the node-aware worker pool advertises at registration.
    """

    def __init__(
        self,
        image: str,
        *,
        nodes: Sequence[str] | None = None,
        namespace: str = "default",
        api_client: client.ApiClient | None = None,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        node_filter: NodeFilter | None = None,
        pools_per_node: int = 1,
        init_blocks: int | None = None,
        min_blocks: int = 0,
        max_blocks: int | None = None,
        max_cpu: float = 2,
        max_mem: str = "500Mi",
        init_cpu: float = 1,
        init_mem: str = "250Mi",
        extra_requests: dict[str, str] | None = None,
        extra_limits: dict[str, str] | None = None,
        parallelism: float = 1,
        worker_init: str = "",
        pod_name: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        run_as_non_root: bool = False,
        secret: str | None = None,
        persistent_volumes: Sequence[tuple[str, str]] = (),
        service_account_name: str | None = None,
        annotations: dict[str, str] | None = None,
        image_pull_policy: str | None = None,
        env: Mapping[str, str] | None = None,
        node_store: NodeStoreSidecar | None = None,
        **removed: Never,
    ) -> None:
        reject_removed_keywords("PinnedKubernetesProvider()", removed)
        ExecutionProvider.__init__(self)  # cores_per_node / mem_per_node = None, as the base declares
        if pools_per_node < 1:
            raise InvalidOverride(f"pools_per_node = {pools_per_node!r} must be >= 1")
        if image_pull_policy is not None and image_pull_policy not in _PULL_POLICIES:
            raise InvalidOverride(
                f"image_pull_policy = {image_pull_policy!r} is not one of {list(_PULL_POLICIES)}"
            )
        self.node_filter = node_filter if node_filter is not None else NodeFilter()
        self._toleration_models = [_toleration_model(t) for t in self.node_filter.pod_tolerations()]
        self.api_client = api_client
        self.kubeconfig = kubeconfig
        self.context = context
        self.pools_per_node = pools_per_node
        self.image_pull_policy = image_pull_policy
        self.env = dict(env or {})
        if node_store is not None and not isinstance(node_store, NodeStoreSidecar):
            raise InvalidOverride(
                f"node_store = {node_store!r} must be a k8s_topology.NodeStoreSidecar or None"
            )
        self.node_store = node_store
        self._api = make_api_client(api_client, kubeconfig=kubeconfig, context=context)

        self._topology: Topology | None = None
        if nodes is None:
            self._topology = self._discover(None)
            node_list = self._topology.names
        else:
            node_list = list(dict.fromkeys(nodes))
            if not node_list:
                raise InvalidOverride("nodes = [] : give at least one node name, or None to discover them")
        self.nodes = node_list

        capacity = len(node_list) * pools_per_node
        # The attributes upstream KubernetesProvider.__init__ sets (listed in _upstream.py).
        self.namespace = namespace
        self.image = image
        self.nodes_per_block = 1  # one pod is one node
        self.init_blocks = capacity if init_blocks is None else init_blocks
        self.min_blocks = min_blocks
        self.max_blocks = capacity if max_blocks is None else max_blocks
        self.max_cpu = max_cpu
        self.max_mem = max_mem
        self.init_cpu = init_cpu
        self.init_mem = init_mem
        self.extra_requests = extra_requests if extra_requests else {}
        self.extra_limits = extra_limits if extra_limits else {}
        self.parallelism = parallelism
        self.worker_init = worker_init
        self.secret = secret
        self.pod_name = pod_name
        self.user_id = user_id
        self.group_id = group_id
        self.run_as_non_root = run_as_non_root
        self.persistent_volumes = list(persistent_volumes)
        self.service_account_name = service_account_name
        self.annotations = annotations
        self.kube_client = _PinningCoreV1Api(self._api, self)
        self.resources: dict[object, dict[str, Any]] = {}

        self._lock = threading.RLock()
        self._pending_node: str | None = None
        self.job_nodes: dict[str, str] = {}
        log.info(
            "k8s.provider.ready %s",
            kv(nodes=self.nodes, namespace=namespace, image=image, blocks=self.init_blocks),
        )

    # -- topology ------------------------------------------------------------------------------------
    def _discover(self, include: Sequence[str] | None) -> Topology:
        node_filter = self.node_filter
        if include is not None:
            node_filter = dataclasses.replace(node_filter, include=frozenset(include))
        return discover(self._api, node_filter=node_filter)

    def topology(self, refresh: bool = True) -> Topology:
        """The usable nodes this provider serves (a fresh listing unless ``refresh=False``)."""
        if refresh or self._topology is None:
            self._topology = self._discover(self.nodes)
        return self._topology

    def expected_node_names(self) -> list[str]:
        """The nodes this provider's first blocks put pools on: the schedulable ones of its topology.

        What parsl-affinity-htex's ``AffinityHighThroughputExecutor.expected_nodes()`` asks providers for, so
        a planner waits for the whole cluster before its first plan. The topology is the one already listed
        (``topology(refresh=False)``: at construction when ``nodes`` was None, else on the first call), so
        asking again does not hit the API server; it honours ``node_filter`` and ``nodes`` (a listed node
        that is NotReady, cordoned, tainted or filtered out is not expected: its pod would stay Pending).

        Parsl starts ``max(init_blocks, min_blocks)`` blocks up front and :meth:`choose_node` gives them the
        nodes in ``nodes`` order (fewest pools first), so with fewer blocks than nodes only the first nodes
        get one; with none, nothing is expected (pools come only on demand, for tasks a waiting planner would
        never release). Raises :class:`~k8s_topology.errors.NoUsableNodes` when the first listing finds none
        of ``nodes`` usable.
        """
        blocks = max(int(self.init_blocks), int(self.min_blocks))
        schedulable = set(self.topology(refresh=False).names)
        expected = [n for n in self.nodes[:blocks] if n in schedulable]
        if len(expected) < min(blocks, len(self.nodes)):
            log.warning(
                "k8s.expected_nodes.unschedulable %s",
                kv(unschedulable=[n for n in self.nodes[:blocks] if n not in schedulable], expected=expected),
            )
        return expected

    # -- compatibility: the only name of the original SAGA-Parsl fork kept in k8s-topology (README "Compatibility")
    def get_graph_nodes(self) -> list[dict[str, Any]]:
        """The nodes of the network graph, i.e. ``topology().to_network_spec()["nodes"]``.

        Kept for code written against the original SAGA-Parsl fork's provider; new code uses ``topology()``.
        """
        nodes: list[dict[str, Any]] = self.topology().to_network_spec()["nodes"]
        return nodes

    # -- blocks --------------------------------------------------------------------------------------
    def _live_jobs(self, node: str) -> int:
        live = 0
        for jid, n in self.job_nodes.items():
            status = self.resources.get(jid, {}).get("status")
            if n == node and status is not None and not status.terminal:
                live += 1
        return live

    def choose_node(self) -> str:
        """The node for the next block: the one with fewest live pools (ties: order of ``nodes``)."""
        with self._lock:
            counts = {n: self._live_jobs(n) for n in self.nodes}
            node = min(self.nodes, key=lambda n: counts[n])
            if counts[node] >= self.pools_per_node:
                raise NoNodeAvailable(
                    f"every node already runs {self.pools_per_node} pool(s) ({counts}); raise pools_per_node "
                    "or lower max_blocks"
                )
            return node

    def submit(self, cmd_string: str, tasks_per_node: int, job_name: str = "parsl.kube") -> str:
        """Parsl's entry point for a new block: pin it to :meth:`choose_node`'s node."""
        with self._lock:
            return self.submit_to(self.choose_node(), cmd_string, tasks_per_node, job_name)

    def submit_to(
        self, node: str, cmd_string: str, tasks_per_node: int = 1, job_name: str = "parsl.kube"
    ) -> str:
        """Start one worker pool pinned to ``node`` (must be one of ``nodes``)."""
        if node not in self.nodes:
            raise InvalidOverride(f"node {node!r} is not served by this provider; nodes: {self.nodes}")
        with self._lock:
            self._pending_node = node
            try:
                job_id: str = super().submit(cmd_string, tasks_per_node, job_name)
            finally:
                self._pending_node = None
            self.job_nodes[job_id] = node
        log.info(
            "k8s.pool.submitted %s", kv(job_id=job_id, node=node, pod=self.resources[job_id]["pod_name"])
        )
        return job_id

    def _pin_pod(self, pod: Any) -> None:
        """Edit the V1Pod upstream's ``_create_pod`` built, just before it is sent."""
        node = self._pending_node
        if node is None:
            raise NoNodeAvailable(
                "a pod was created outside submit()/submit_to(): no node chosen to pin it to"
            )
        spec = pod.spec
        spec.affinity = client.V1Affinity(
            node_affinity=client.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=client.V1NodeSelector(
                    node_selector_terms=[
                        client.V1NodeSelectorTerm(
                            match_fields=[
                                client.V1NodeSelectorRequirement(
                                    key="metadata.name", operator="In", values=[node]
                                )
                            ]
                        )
                    ]
                )
            )
        )
        if self._toleration_models:
            spec.tolerations = list(self._toleration_models)
        meta = pod.metadata
        meta.annotations = {**(meta.annotations or {}), NODE_ANNOTATION: node}
        node_env = [
            client.V1EnvVar(
                name=name,
                value_from=client.V1EnvVarSource(
                    field_ref=client.V1ObjectFieldSelector(field_path="spec.nodeName")
                ),
            )
            for name in NODE_NAME_VARIABLES
            if name not in self.env  # a value given in env= wins (one entry per name)
        ]
        extra = [client.V1EnvVar(name=k, value=v) for k, v in self.env.items()]
        store_env = self.node_store.worker_env() if self.node_store is not None else []
        for container in spec.containers:
            container.env = [*(container.env or []), *node_env, *store_env, *extra]
            if self.image_pull_policy:
                container.image_pull_policy = self.image_pull_policy
        if self.node_store is not None:
            sidecar = self.node_store.container(self.image)
            if self.image_pull_policy:
                sidecar.image_pull_policy = self.image_pull_policy
            spec.containers = [*spec.containers, sidecar]

    @property
    def label(self) -> str:
        return "kubernetes-pinned"
