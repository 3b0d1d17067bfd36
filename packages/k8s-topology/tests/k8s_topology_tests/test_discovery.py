"""Discovery against a real HTTP API server.

kmock stands in for the kube-apiserver, which this machine cannot run; the official ``kubernetes``
client talks to it over TCP (see conftest.py).
"""

from __future__ import annotations

import json
import pickle
import time

import pytest
from kubernetes import client

import k8s_topology as kt
from k8s_topology.testing import FakeApiServer

from .conftest import acceptance_cluster, free_port, make_node

pytestmark = pytest.mark.timeout(120)

FORBIDDEN_BODY = {
    "apiVersion": "v1",
    "kind": "Status",
    "metadata": {},
    "status": "Failure",
    "reason": "Forbidden",
    "code": 403,
    "message": 'nodes is forbidden: User "system:serviceaccount:parsl:worker" cannot list resource "nodes" '
    'in API group "" at the cluster scope',
}


def test_acceptance_cluster_gives_exactly_the_four_usable_workers(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(*acceptance_cluster())

    topo = kt.discover(apiserver.api_client())

    assert topo.names == ["worker-a1", "worker-a2", "worker-b1", "worker-b2"]
    a1 = topo.node("worker-a1")
    assert a1.cpu == pytest.approx(3.8)  # "3800m"
    assert a1.memory == 16 * 2**30  # "16Gi"
    assert topo.node("worker-b2").memory == 2 * 2**30  # "2048Mi"
    assert (a1.zone, a1.region) == ("zone-a", "region-1")
    assert set(topo.excluded) == {"control-plane", "worker-notready", "worker-cordoned"}
    assert "control-plane" in topo.excluded["control-plane"]
    assert "NotReady" in topo.excluded["worker-notready"]
    assert "cordoned" in topo.excluded["worker-cordoned"]

    spec = topo.to_network_spec()
    json.dumps(spec)  # the contract: plain JSON-able dict
    slots = {n["name"]: n["slots"] for n in spec["nodes"]}
    assert slots == {"worker-a1": 3, "worker-a2": 7, "worker-b1": 3, "worker-b2": 1}
    bw = {frozenset((lk["source"], lk["target"])): lk["bandwidth"] for lk in spec["links"]}
    assert len(bw) == 6  # every unordered pair, so SAGA never sees a zero-speed link
    tiers = kt.BandwidthTiers()
    assert bw[frozenset(("worker-a1", "worker-a2"))] == tiers.same_zone
    assert bw[frozenset(("worker-b1", "worker-b2"))] == tiers.same_zone
    assert bw[frozenset(("worker-a1", "worker-b1"))] == tiers.same_region
    assert bw[frozenset(("worker-a2", "worker-b2"))] == tiers.same_region
    assert tiers.same_zone > tiers.same_region > tiers.cross_region


def test_discovery_reads_nodes_only_never_pods(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(*acceptance_cluster())
    before = len(apiserver.requests())
    kt.discover(apiserver.api_client(), node_filter=kt.NodeFilter(label_selector="kubernetes.io/os=linux"))
    new = apiserver.requests()[before:]
    assert [(str(r.method.value), r.url.path) for r in new] == [("GET", "/api/v1/nodes")]
    assert new[0].params.get("labelSelector") == "kubernetes.io/os=linux"


def test_control_plane_can_be_included_and_its_role_taint_is_tolerated(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(*acceptance_cluster())
    topo = kt.discover(apiserver.api_client(), node_filter=kt.NodeFilter(include_control_plane=True))
    assert "control-plane" in topo.names
    assert topo.node("control-plane").control_plane


def test_label_selector_include_and_exclude_narrow_the_set(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(*acceptance_cluster())
    api = apiserver.api_client()

    zone_b = kt.discover(api, node_filter=kt.NodeFilter(label_selector="topology.kubernetes.io/zone=zone-b"))
    assert zone_b.names == ["worker-b1", "worker-b2"]
    assert "does not match label selector" in zone_b.excluded["worker-a1"]

    selector = "topology.kubernetes.io/zone in (zone-a),!node-role.kubernetes.io/control-plane"
    zone_set = kt.discover(api, node_filter=kt.NodeFilter(label_selector=selector))
    assert zone_set.names == ["worker-a1", "worker-a2"]

    inc = kt.discover(api, node_filter=kt.NodeFilter(include=["worker-a1", "worker-b1", "ghost"]))
    assert inc.names == ["worker-a1", "worker-b1"]
    assert inc.excluded["ghost"] == "in the include list but not found in the cluster"
    assert inc.excluded["worker-a2"] == "not in the include list"

    exc = kt.discover(api, node_filter=kt.NodeFilter(exclude=["worker-a2"]))
    assert exc.names == ["worker-a1", "worker-b1", "worker-b2"]
    assert exc.excluded["worker-a2"] == "in the exclude list"


def test_taints_exclude_unless_tolerated(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(
        make_node("gpu-1", taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]),
        make_node("evicting", taints=[{"key": "maintenance", "effect": "NoExecute"}]),
        make_node("soft", taints=[{"key": "prefer-not", "effect": "PreferNoSchedule"}]),
    )
    api = apiserver.api_client()
    topo = kt.discover(api)
    assert topo.names == ["soft"]  # PreferNoSchedule does not block
    assert topo.excluded["gpu-1"] == "tainted nvidia.com/gpu=true:NoSchedule"
    assert topo.excluded["evicting"] == "tainted maintenance:NoExecute"

    gpu = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    tolerant = kt.discover(api, node_filter=kt.NodeFilter(tolerations=[gpu]))
    assert tolerant.names == ["gpu-1", "soft"]
    wrong_value = kt.discover(
        api,
        node_filter=kt.NodeFilter(
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Equal", "value": "false"}]
        ),
    )
    assert wrong_value.names == ["soft"]


def test_zero_usable_nodes_names_every_filtered_node_and_why(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(
        make_node("cp", control_plane=True),
        make_node("down", ready="False"),
        make_node("drained", unschedulable=True),
    )
    with pytest.raises(kt.errors.NoUsableNodes) as info:
        kt.discover(apiserver.api_client())
    msg = str(info.value)
    assert "cp: control-plane node" in msg
    assert "down: NotReady" in msg
    assert "drained: cordoned" in msg
    assert set(info.value.excluded) == {"cp", "down", "drained"}
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == msg and again.excluded == info.value.excluded

    empty = kt.discover(apiserver.api_client(), allow_empty=True)
    assert empty.names == [] and len(empty.excluded) == 3


def test_no_nodes_at_all(apiserver: FakeApiServer) -> None:
    apiserver.on_loop(
        lambda: apiserver.km["list v1/nodes"]
        << {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": []}
    )
    with pytest.raises(kt.errors.NoUsableNodes, match="listed no nodes at all"):
        kt.discover(apiserver.api_client())


def test_malformed_quantity_names_node_field_and_value(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("good"), make_node("bad", cpu="lots"))
    with pytest.raises(kt.errors.InvalidQuantity) as info:
        kt.discover(apiserver.api_client())
    assert (
        "'bad'" in str(info.value)
        and "status.allocatable.cpu" in str(info.value)
        and "'lots'" in str(info.value)
    )
    assert (info.value.node, info.value.field, info.value.value) == ("bad", "status.allocatable.cpu", "lots")
    assert isinstance(info.value, ValueError)


def test_forbidden_list_nodes_says_verb_and_resource(apiserver: FakeApiServer) -> None:
    apiserver.on_loop(lambda: apiserver.km["list v1/nodes"] << 403 << FORBIDDEN_BODY)
    with pytest.raises(kt.errors.KubernetesForbidden) as info:
        kt.discover(apiserver.api_client())
    assert str(info.value).startswith("list nodes: forbidden")
    assert "cannot list resource" in str(info.value)  # the server's own explanation is kept
    assert (info.value.status, info.value.verb, info.value.resource) == (403, "list", "nodes")
    assert pickle.loads(pickle.dumps(info.value)).verb == "list"


def test_unauthorized_is_its_own_error(apiserver: FakeApiServer) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "reason": "Unauthorized",
        "code": 401,
        "message": "Unauthorized",
    }
    apiserver.on_loop(lambda: apiserver.km["list v1/nodes"] << 401 << body)
    with pytest.raises(kt.errors.KubernetesUnauthorized, match=r"^list nodes: unauthorized \(HTTP 401\)"):
        kt.discover(apiserver.api_client())


def test_unreachable_server_is_a_clear_error_not_a_hang() -> None:
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(kt.errors.KubernetesUnreachable) as info:
        kt.discover(client.ApiClient(cfg), request_timeout=5)
    assert time.monotonic() - started < 30
    assert str(info.value).startswith(f"list nodes: Kubernetes API server '{cfg.host}' is unreachable")
    assert info.value.host == cfg.host


def test_kubeconfig_file_and_context(apiserver: FakeApiServer, tmp_path) -> None:
    apiserver.add_nodes(make_node("w1"))
    path = apiserver.kubeconfig(tmp_path / "config")
    assert kt.discover(kubeconfig=path).names == ["w1"]
    assert kt.discover(kubeconfig=path, context="fake").names == ["w1"]
    sent = apiserver.requests()[-1]
    assert sent.headers.get("Authorization") == "Bearer not-a-real-token"
    with pytest.raises(kt.errors.KubeConfigError, match="context 'nope'"):
        kt.discover(kubeconfig=path, context="nope")


def test_no_configuration_anywhere_is_a_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(kt.errors.KubeConfigError) as info:
        kt.discover()
    assert "file not found" in str(info.value) and "in-cluster" in str(info.value)


def test_the_old_filter_keywords_fail_naming_node_filter(apiserver: FakeApiServer) -> None:
    with pytest.raises(
        TypeError,
        match=r"discover\(\) no longer takes label_selector, include: pass node_filter=k8s_topology.NodeFilter\(label_selector=..., include=...\)",
    ):
        kt.discover(apiserver.api_client(), label_selector="a=b", include=["w1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        kt.discover(apiserver.api_client(), colour="blue")  # type: ignore[arg-type]
    assert apiserver.requests() == []  # rejected before any API call


def test_node_filter_rejects_bad_values_before_any_call() -> None:
    with pytest.raises(kt.errors.InvalidOverride, match=r"include='w1'\): expected a list of node names"):
        kt.NodeFilter(include="w1")
    with pytest.raises(kt.errors.InvalidOverride, match="unknown key"):
        kt.NodeFilter(tolerations=[{"keys": "a"}])
    with pytest.raises(kt.errors.InvalidOverride, match="operator must be"):
        kt.NodeFilter(tolerations=[{"key": "a", "operator": "Maybe"}])
    assert kt.NodeFilter(include=["b", "a"]) == kt.NodeFilter(include={"a", "b"})
    assert kt.NodeFilter(label_selector="") == kt.NodeFilter()
