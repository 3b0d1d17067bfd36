"""PinnedKubernetesProvider against a real HTTP API server.

kmock stands in for the kube-apiserver, which this machine cannot run: Parsl's own KubernetesProvider
code builds the pod, the official ``kubernetes`` client sends it over TCP, and the assertions read the
pod body *as the API server received it*.
"""

from __future__ import annotations

import ast
import inspect
import os
import shlex
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from parsl.jobs.states import JobState
from parsl.providers import KubernetesProvider

import k8s_topology as kt
from k8s_topology._provider import PinnedKubernetesProvider
from k8s_topology.testing import FakeApiServer

from .conftest import acceptance_cluster, make_node

pytestmark = pytest.mark.timeout(120)

# What the affinity executor's launch_cmd looks like once HTEx has formatted it for a block.
LAUNCH = (
    "python -m parsl_affinity_htex.worker_pool --debug --max_workers_per_node=4 -a 10.0.0.5 -p 0 -c 1.0 "
    "-m None --poll 10 --port=54321 --cert_dir None --logdir=/tmp/runinfo/000/htex --block_id=0 "
    "--hb_period=30 --hb_threshold=120 --drain_period=None --cpu-affinity none --mpi-launcher=mpiexec "
    "--available-accelerators "
)


def pods_posted(server: FakeApiServer, namespace: str) -> list[dict[str, Any]]:
    return [
        r.data
        for r in server.requests()
        if str(r.method.value) == "POST" and r.url.path == f"/api/v1/namespaces/{namespace}/pods"
    ]


def pinned_node(pod: dict[str, Any]) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert len(terms) == 1
    (field,) = terms[0]["matchFields"]
    assert field["key"] == "metadata.name" and field["operator"] == "In"
    (node,) = field["values"]
    return str(node)


def set_phase(server: FakeApiServer, provider: PinnedKubernetesProvider, job_id: str, phase: str) -> None:
    server.core().patch_namespaced_pod(
        provider.resources[job_id]["pod_name"], provider.namespace, {"status": {"phase": phase}}
    )


@pytest.fixture
def cluster(apiserver: FakeApiServer) -> FakeApiServer:
    apiserver.add_nodes(*acceptance_cluster())
    return apiserver


DOWNWARD_NODE_NAME = {"fieldRef": {"fieldPath": "spec.nodeName"}}


def test_pod_body_pins_the_node_and_carries_the_node_name_and_the_unchanged_command(
    cluster: FakeApiServer,
) -> None:
    provider = PinnedKubernetesProvider(
        "registry.example/parsl-worker:0.1.0",
        api_client=cluster.api_client(),
        namespace="parsl",
        image_pull_policy="IfNotPresent",
        node_filter=kt.NodeFilter(
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "parsl", "effect": "NoSchedule"}]
        ),
        env={"PARSL_EXTRA": "1"},
        max_cpu=3.5,
        max_mem="12Gi",
    )
    assert provider.nodes == ["worker-a1", "worker-a2", "worker-b1", "worker-b2"]  # discovered
    assert provider.init_blocks == provider.max_blocks == 4 and provider.nodes_per_block == 1

    job = provider.submit(LAUNCH, 1, "parsl.htex.block-0")

    (pod,) = pods_posted(cluster, "parsl")
    assert pinned_node(pod) == "worker-a1" == provider.job_nodes[job]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    # The documented variable the pool reads, and the Kubernetes convention, both from the downward API.
    assert env["PARSL_NODE_NAME"] == {"name": "PARSL_NODE_NAME", "valueFrom": DOWNWARD_NODE_NAME}
    assert env["NODE_NAME"] == {"name": "NODE_NAME", "valueFrom": DOWNWARD_NODE_NAME}
    assert env["PARSL_EXTRA"] == {"name": "PARSL_EXTRA", "value": "1"}
    assert container["command"] == ["/bin/bash"]
    assert container["args"][0] == "-c"
    assert container["args"][1].strip() == LAUNCH.strip()  # the executor's command, not rewritten
    assert container["image"] == "registry.example/parsl-worker:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"]["limits"] == {"cpu": "3.5", "memory": "12Gi"}
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "parsl", "effect": "NoSchedule"}
    ]
    assert pod["metadata"]["annotations"]["saga.parsl.org/node"] == "worker-a1"
    assert "nodeName" not in pod["spec"]  # scheduled through the scheduler, not bound around it
    assert provider.resources[job]["pod_name"] == pod["metadata"]["name"]


def test_the_node_name_reaches_the_pool_through_its_environment(
    cluster: FakeApiServer, tmp_path: Path
) -> None:
    """Run the pod's container command the way the kubelet would (bash, the downward-API variables
    resolved from spec.nodeName, no KUBERNETES_SERVICE_HOST), with a stand-in ``python`` that records its
    arguments and PARSL_NODE_NAME: the pool's command line is untouched and the variable names the node."""
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), nodes=["worker-b1"])
    provider.submit(LAUNCH, 1)
    (pod,) = pods_posted(cluster, "default")
    container = pod["spec"]["containers"][0]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_python = bindir / "python"
    record = shlex.quote(str(tmp_path / "argv"))
    fake_python.write_text(
        f'#!/bin/sh\necho "$PARSL_NODE_NAME" > {record}\nprintf "%s\\n" "$@" >> {record}\n'
    )
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    for var in container["env"]:
        if var.get("valueFrom") == DOWNWARD_NODE_NAME:
            env[var["name"]] = "worker-b1"  # what the kubelet resolves after binding the pod
    subprocess.run([*container["command"], *container["args"]], env=env, check=True, timeout=30)
    node_name, *argv = (tmp_path / "argv").read_text().splitlines()
    assert node_name == "worker-b1"
    assert argv == shlex.split(LAUNCH)[1:]
    assert "--node-name" not in argv


def test_env_given_by_the_user_wins_over_the_downward_api(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider(
        "img:1", api_client=cluster.api_client(), nodes=["worker-a1"], env={"PARSL_NODE_NAME": "alias-a1"}
    )
    provider.submit(LAUNCH, 1)
    (pod,) = pods_posted(cluster, "default")
    env = pod["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == "PARSL_NODE_NAME"] == [
        {"name": "PARSL_NODE_NAME", "value": "alias-a1"}
    ]
    assert {"name": "NODE_NAME", "valueFrom": DOWNWARD_NODE_NAME} in env


def test_blocks_spread_one_per_node_and_a_finished_pool_frees_its_node(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client())
    jobs = [provider.submit(LAUNCH, 1, f"parsl.htex.block-{i}") for i in range(4)]
    assert sorted(provider.job_nodes[j] for j in jobs) == provider.nodes
    assert sorted(pinned_node(p) for p in pods_posted(cluster, "default")) == provider.nodes
    with pytest.raises(kt.errors.NoNodeAvailable, match="every node already runs 1 pool"):
        provider.submit(LAUNCH, 1)

    for j in jobs:
        set_phase(cluster, provider, j, "Running")
    assert [s.state for s in provider.status(jobs)] == [JobState.RUNNING] * 4
    set_phase(cluster, provider, jobs[2], "Failed")
    assert provider.status([jobs[2]])[0].state == JobState.FAILED
    replacement = provider.submit(LAUNCH, 1)
    assert provider.job_nodes[replacement] == provider.job_nodes[jobs[2]]

    assert provider.cancel([jobs[0]]) == [True]
    deletes = [r for r in cluster.requests() if str(r.method.value) == "DELETE"]
    assert (
        deletes[-1].url.path == f"/api/v1/namespaces/default/pods/{provider.resources[jobs[0]]['pod_name']}"
    )
    assert provider.choose_node() == provider.job_nodes[jobs[0]]


def test_submit_to_a_chosen_node_and_reject_unknown_nodes(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider(
        "img:1", api_client=cluster.api_client(), nodes=["worker-a2", "worker-b2"], pools_per_node=2
    )
    assert provider.init_blocks == provider.max_blocks == 4
    job = provider.submit_to("worker-b2", "process_worker_pool.py --block_id=7", 1)
    (pod,) = pods_posted(cluster, "default")
    assert pinned_node(pod) == "worker-b2" == provider.job_nodes[job]
    assert (
        pod["spec"]["containers"][0]["args"][1].strip() == "process_worker_pool.py --block_id=7"
    )  # untouched
    with pytest.raises(kt.errors.InvalidOverride, match="'worker-a1' is not served"):
        provider.submit_to("worker-a1", LAUNCH)


def test_one_node_filter_selects_the_nodes_and_the_pod_tolerations(cluster: FakeApiServer) -> None:
    """The provider takes the same NodeFilter as discover(); with include_control_plane its pods tolerate
    the control-plane role taint, so they can land where discovery said they may."""
    node_filter = kt.NodeFilter(
        label_selector="topology.kubernetes.io/zone=zone-a", include_control_plane=True
    )
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), node_filter=node_filter)
    assert provider.nodes == kt.discover(cluster.api_client(), node_filter=node_filter).names
    assert provider.nodes == ["control-plane", "worker-a1", "worker-a2"]
    provider.submit_to("control-plane", LAUNCH)
    (pod,) = pods_posted(cluster, "default")
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"} in pod["spec"][
        "tolerations"
    ]


def test_the_removed_keywords_fail_naming_their_replacement(cluster: FakeApiServer) -> None:
    api = cluster.api_client()
    with pytest.raises(
        TypeError, match=r"no longer takes tolerations: pass node_filter=k8s_topology.NodeFilter"
    ):
        PinnedKubernetesProvider("img:1", api_client=api, tolerations=[])  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="no longer takes node_name_arg: the worker pool reads PARSL_NODE_NAME"
    ):
        PinnedKubernetesProvider("img:1", api_client=api, node_name_arg="--node-name")  # type: ignore[arg-type]


def test_topology_and_get_graph_nodes(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider(
        "img:1", api_client=cluster.api_client(), nodes=["worker-a1", "worker-b2", "worker-notready"]
    )
    topo = provider.topology()
    assert topo.names == ["worker-a1", "worker-b2"]
    assert topo.excluded["worker-notready"].startswith("NotReady")
    graph_nodes = provider.get_graph_nodes()
    assert [(n["name"], n["slots"]) for n in graph_nodes] == [("worker-a1", 3), ("worker-b2", 1)]
    before = len([r for r in cluster.requests() if "/pods" in r.url.path])
    provider.topology()
    assert len([r for r in cluster.requests() if "/pods" in r.url.path]) == before  # nodes, never pods


def node_listings(server: FakeApiServer) -> int:
    return len(
        [r for r in server.requests() if str(r.method.value) == "GET" and r.url.path == "/api/v1/nodes"]
    )


def test_expected_node_names_are_the_discovered_nodes_without_asking_the_api_again(
    cluster: FakeApiServer,
) -> None:
    """What an executor reports to a planner waiting for the whole cluster: the nodes discovery kept at
    construction, read from the cached topology (calling it again costs no API request)."""
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client())
    listed = node_listings(cluster)
    assert provider.expected_node_names() == ["worker-a1", "worker-a2", "worker-b1", "worker-b2"]
    assert provider.expected_node_names() == provider.nodes
    assert node_listings(cluster) == listed


def test_expected_node_names_leave_out_listed_nodes_that_cannot_take_a_pod(cluster: FakeApiServer) -> None:
    """Given ``nodes``, the first call lists the cluster once (filtered by ``nodes`` and the node filter);
    a NotReady or cordoned node in the list is not expected, since its pod would stay Pending."""
    provider = PinnedKubernetesProvider(
        "img:1",
        api_client=cluster.api_client(),
        nodes=["worker-b2", "worker-notready", "worker-a1", "worker-cordoned"],
    )
    listed = node_listings(cluster)
    assert provider.expected_node_names() == ["worker-b2", "worker-a1"]  # the order of ``nodes``
    assert provider.expected_node_names() == ["worker-b2", "worker-a1"]
    assert node_listings(cluster) == listed + 1


def test_expected_node_names_honour_the_node_filter(cluster: FakeApiServer) -> None:
    zone_b = kt.NodeFilter(label_selector="topology.kubernetes.io/zone=zone-b")
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), node_filter=zone_b)
    assert provider.expected_node_names() == ["worker-b1", "worker-b2"]
    excluding = kt.NodeFilter(exclude=["worker-a2"])
    provider = PinnedKubernetesProvider(
        "img:1", api_client=cluster.api_client(), nodes=["worker-a1", "worker-a2"], node_filter=excluding
    )
    assert provider.expected_node_names() == ["worker-a1"]


def test_expected_node_names_count_only_the_blocks_started_up_front(cluster: FakeApiServer) -> None:
    """Parsl starts max(init_blocks, min_blocks) blocks and choose_node gives them nodes in ``nodes``
    order; with no block up front nothing is expected (pools then come only on demand)."""
    api = cluster.api_client()
    assert PinnedKubernetesProvider("img:1", api_client=api, init_blocks=2).expected_node_names() == [
        "worker-a1",
        "worker-a2",
    ]
    assert PinnedKubernetesProvider(
        "img:1", api_client=api, init_blocks=0, min_blocks=3
    ).expected_node_names() == ["worker-a1", "worker-a2", "worker-b1"]
    assert PinnedKubernetesProvider("img:1", api_client=api, init_blocks=0).expected_node_names() == []
    two_each = PinnedKubernetesProvider("img:1", api_client=api, nodes=["worker-b1"], pools_per_node=2)
    assert two_each.init_blocks == 2 and two_each.expected_node_names() == ["worker-b1"]
    provider = PinnedKubernetesProvider("img:1", api_client=api, init_blocks=1)
    jobs = [provider.submit(LAUNCH, 1)]
    assert [provider.job_nodes[j] for j in jobs] == provider.expected_node_names()


def test_construction_errors_are_clear(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("down", ready="False"))
    with pytest.raises(kt.errors.NoUsableNodes, match="down: NotReady"):
        PinnedKubernetesProvider("img:1", api_client=apiserver.api_client())
    with pytest.raises(kt.errors.InvalidOverride, match="image_pull_policy = 'Sometimes'"):
        PinnedKubernetesProvider(
            "img:1", api_client=apiserver.api_client(), nodes=["x"], image_pull_policy="Sometimes"
        )
    with pytest.raises(kt.errors.InvalidOverride, match="unknown key"):
        kt.NodeFilter(tolerations=[{"keys": "a"}])  # checked before any provider or API call


def test_forbidden_pod_creation_names_verb_and_resource(cluster: FakeApiServer) -> None:
    body = {
        "kind": "Status",
        "code": 403,
        "reason": "Forbidden",
        "message": 'pods is forbidden: cannot create resource "pods"',
    }
    cluster.on_loop(lambda: cluster.km["create v1/pods"] << 403 << body)
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), nodes=["worker-a1"])
    with pytest.raises(kt.errors.KubernetesForbidden, match=r"^create pods: forbidden"):
        provider.submit(LAUNCH, 1)
    assert provider.job_nodes == {}


def test_repr_works_like_every_parsl_provider(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), nodes=["worker-a1"])
    assert repr(provider).startswith("PinnedKubernetesProvider(")


@pytest.mark.timeout(180)
def test_real_htex_starts_one_pinned_pool_per_node_and_removes_them(
    cluster: FakeApiServer, tmp_path: Path
) -> None:
    """A real Parsl DataFlowKernel + HighThroughputExecutor (real interchange process) scales out through
    the provider: the executor's own formatted launch command reaches each pod, one pod per usable node,
    and shutting Parsl down deletes them."""
    import parsl
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD

    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), namespace="parsl")
    htex = HighThroughputExecutor(
        label="k8s",
        provider=provider,
        encrypted=False,
        address="127.0.0.1",
        launch_cmd=DEFAULT_LAUNCH_CMD.replace(
            "process_worker_pool.py", "python -m parsl_affinity_htex.worker_pool"
        ),
        interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
    )
    dfk = parsl.load(
        Config(executors=[htex], strategy="none", run_dir=str(tmp_path), initialize_logging=False)
    )
    try:
        deadline = time.monotonic() + 60
        while len(pods_posted(cluster, "parsl")) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        pods = pods_posted(cluster, "parsl")
        assert sorted(pinned_node(p) for p in pods) == ["worker-a1", "worker-a2", "worker-b1", "worker-b2"]
        for pod in pods:
            script = pod["spec"]["containers"][0]["args"][1]
            assert "python -m parsl_affinity_htex.worker_pool" in script
            assert f"--logdir={tmp_path}" in script  # formatted by the executor, passed through
            assert "--node-name" not in script  # the node name travels in PARSL_NODE_NAME
            names = {e["name"] for e in pod["spec"]["containers"][0]["env"] if "valueFrom" in e}
            assert names == {"PARSL_NODE_NAME", "NODE_NAME"}
    finally:
        dfk.cleanup()
        parsl.clear()
    deleted = {r.url.path.rsplit("/", 1)[-1] for r in cluster.requests() if str(r.method.value) == "DELETE"}
    assert deleted == {p["metadata"]["name"] for p in pods}


# --- our __init__ replaces upstream's (listed in k8s_topology/_upstream.py): it must set all it sets ----------
def test_we_set_every_attribute_upstream_init_sets(cluster: FakeApiServer) -> None:
    tree = ast.parse(textwrap.dedent(inspect.getsource(KubernetesProvider.__init__)))
    upstream_attrs = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Store)
    }
    assert {"kube_client", "resources", "image", "namespace"} <= upstream_attrs
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), nodes=["worker-a1"])
    missing = sorted(a for a in upstream_attrs if not hasattr(provider, a))
    assert missing == []


def test_a_node_store_sidecar_runs_beside_the_pool_and_the_pool_learns_its_address(
    cluster: FakeApiServer,
) -> None:
    provider = PinnedKubernetesProvider(
        "img:1",
        api_client=cluster.api_client(),
        nodes=["worker-a1"],
        node_store=kt.NodeStoreSidecar(port=6380, max_memory="128mb"),
        image_pull_policy="IfNotPresent",
    )
    provider.submit(LAUNCH, 1)
    (pod,) = pods_posted(cluster, "default")
    worker, store = pod["spec"]["containers"]
    assert LAUNCH.strip() in " ".join(worker["args"])  # the worker's command is unchanged
    env = {e["name"]: e for e in worker["env"]}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    # Kubernetes expands $(POD_IP) from the variable defined before it: other pods can reach that address
    assert env["PARSL_NODE_STORE"] == {"name": "PARSL_NODE_STORE", "value": "$(POD_IP):6380"}
    assert list(env).index("POD_IP") < list(env).index("PARSL_NODE_STORE")
    assert store["name"] == "node-store" and store["image"] == "img:1"
    assert store["imagePullPolicy"] == "IfNotPresent"
    assert store["command"] == ["redis-server"]
    args = store["args"]
    assert args[args.index("--port") + 1] == "6380" and args[args.index("--maxmemory") + 1] == "128mb"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert store["ports"] == [{"containerPort": 6380, "name": "node-store"}]
    assert store["readinessProbe"]["exec"]["command"] == ["redis-cli", "-p", "6380", "ping"]
    assert store["resources"]["limits"] == {"cpu": "500m", "memory": "384Mi"}
    assert store["resources"]["requests"] == {"cpu": "125m", "memory": "96Mi"}


def test_without_a_node_store_the_pod_has_only_the_worker(cluster: FakeApiServer) -> None:
    provider = PinnedKubernetesProvider("img:1", api_client=cluster.api_client(), nodes=["worker-a1"])
    provider.submit(LAUNCH, 1)
    (pod,) = pods_posted(cluster, "default")
    assert len(pod["spec"]["containers"]) == 1
    assert "PARSL_NODE_STORE" not in {e["name"] for e in pod["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"port": 0}, "port"), ({"port": "6379"}, "port"), ({"max_memory": ""}, "max_memory")],
)
def test_bad_node_store_settings_are_named(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(kt.errors.InvalidOverride, match=named):
        kt.NodeStoreSidecar(**kwargs)


def test_node_store_must_be_a_sidecar(cluster: FakeApiServer) -> None:
    with pytest.raises(kt.errors.InvalidOverride, match="NodeStoreSidecar"):
        PinnedKubernetesProvider(
            "img:1",
            api_client=cluster.api_client(),
            nodes=["worker-a1"],
            node_store={"port": 1},  # type: ignore[arg-type]
        )
