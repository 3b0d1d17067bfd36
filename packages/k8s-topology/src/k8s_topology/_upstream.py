"""Every upstream Parsl / kubernetes function and private attribute k8s-topology overrides or relies on.

``PinnedKubernetesProvider`` subclasses Parsl's ``KubernetesProvider`` (parsl is pinned exactly,
``PARSL_VERSION``): it replaces ``__init__`` (setting the same attributes itself), wraps ``submit``, and edits
the pod that upstream ``_create_pod`` builds at its one exit point, ``kube_client.create_namespaced_pod``. Each
entry records the sha256 of the upstream source and why we depend on it, so an upgrade (of parsl, or of the
locked kubernetes client, 37.0.2) that changes any of them fails a test naming the function
(``tests/k8s_topology_tests/test_upstream.py``): re-read the change against ``_provider.py`` / ``_watch.py``,
then update the sha here.

* ``FUNCTIONS``: dotted name -> (sha256 of ``inspect.getsource(inspect.unwrap(obj))``, why).
* ``SOURCES``: none.
* ``ATTRIBUTES``: a FUNCTIONS name -> attributes we rely on that it sets or uses (each must appear as
  ``.<name>`` in its source).

Data only: nothing here is imported at run time.
"""

from __future__ import annotations

from typing import Final

PARSL_VERSION: Final = "2026.10.26"

_KUBE = "parsl.providers.kubernetes.kube.KubernetesProvider"
_OURS = "k8s_topology._provider.PinnedKubernetesProvider"

FUNCTIONS: Final[dict[str, tuple[str, str]]] = {
    f"{_KUBE}.__init__": (
        "c5a02c13bb9fa14cfe46e396b5a048065a9fadbb9eaaf52b2005a5463ceda7db",
        f"copied and adapted into {_OURS}.__init__, which sets the same attributes itself (upstream loads the "
        "kubeconfig process-wide and fails without one)",
    ),
    f"{_KUBE}.submit": (
        "36855a799a5a062b66982b8780d0e7f858dc7409f94770b78d6b1a1cd83495a9",
        f"wrapped by {_OURS}.submit_to, which chooses the node and calls it unchanged; it must call _create_pod "
        "and record resources[job_id] with 'status' and 'pod_name'",
    ),
    f"{_KUBE}.status": (
        "0f4a0bf38d42a8d5a353dfd8e7526556c93a73817b7748903c9003c06aefc10e",
        f"relied on: refreshes resources[job]['status'] through _status, which {_OURS}.choose_node reads",
    ),
    f"{_KUBE}._status": (
        "19c96c905d8275bb0d14334f119779e12e43f0102314efac3c9a41a4b666e22a",
        "relied on: keeps resources[job]['status'], which decides when a node is free again",
    ),
    f"{_KUBE}._create_pod": (
        "4785e483aafd1092e1599a6f72e9a422ba8692ce6ee1c6d862625ba5d96692bc",
        "relied on (not copied): builds the V1Pod that k8s_topology._provider._PinningCoreV1Api edits, and must "
        "end in self.kube_client.create_namespaced_pod(namespace=self.namespace, body=pod)",
    ),
    f"{_KUBE}._delete_pod": (
        "a34b57f5325f7bd01e337955396f198271e46017b23d0e79e0607783831d9c3f",
        "relied on: cancel deletes pods through self.kube_client, our _PinningCoreV1Api",
    ),
    f"{_KUBE}.cancel": (
        "947b585a8655cb68a1b9caf779880203f1550707d1028a1ca4a8f4c41dc43f6c",
        "relied on: marks resources[job]['status'] CANCELLED, which frees the node for a new block",
    ),
    "kubernetes.client.api.core_v1_api.CoreV1Api.create_namespaced_pod": (
        "56f615798ccea62478f2a878627312f4de2853dcdfb2936f56b3def464a8de8c",
        "overridden by k8s_topology._provider._PinningCoreV1Api.create_namespaced_pod (edits the body, then "
        "calls it)",
    ),
    "kubernetes.watch.watch.iter_resp_lines": (
        "7804fe334b7e43f4aa3e39fe06f1165873b923ae36f0d80a362c83fb8504a00d",
        "relied on (not public API): k8s_topology._watch.NodeWatch splits the streamed watch response into "
        "event lines with it",
    ),
}

SOURCES: Final[dict[str, tuple[str, str]]] = {}

ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    f"{_KUBE}.__init__": (
        "kube_client",
        "resources",
        "namespace",
        "image",
        "pod_name",
        "worker_init",
        "persistent_volumes",
        "service_account_name",
        "annotations",
    ),
    f"{_KUBE}.submit": ("_create_pod", "resources", "pod_name"),
    f"{_KUBE}.status": ("_status", "resources"),
    f"{_KUBE}._status": ("resources", "kube_client"),
    f"{_KUBE}._create_pod": ("kube_client", "create_namespaced_pod", "namespace"),
    f"{_KUBE}._delete_pod": ("kube_client", "delete_namespaced_pod"),
    f"{_KUBE}.cancel": ("resources", "_delete_pod"),
    "kubernetes.watch.watch.iter_resp_lines": ("stream",),
}
