"""Tier 2 checks against a live kind cluster made by infra/kind/run-e2e.sh (KEEP_CLUSTER=1).

Runs only with ``KIND_E2E=1`` and a cluster answering through the current kubeconfig; otherwise skipped
with the reason. CI (.github/workflows/kind-e2e.yml) runs it right after the script, before deleting the
cluster. Not run on the development machines of this project (no Docker, no kind there).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.kind, pytest.mark.timeout(120)]

NAMESPACE = "parsl"
JOB = "saga-e2e-driver"


def _kind_config() -> dict[str, Any]:
    here = Path(__file__).resolve().parents[1]
    loaded: dict[str, Any] = yaml.safe_load((here / "kind-config.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def core() -> Any:
    if os.environ.get("KIND_E2E") != "1":
        pytest.skip(
            "tier 2 runs only with KIND_E2E=1 and a kind cluster answering (see infra/kind/README.md)"
        )
    from kubernetes import client

    from k8s_topology import make_api_client
    from k8s_topology.errors import K8sTopologyError

    try:
        api = make_api_client(None)
        core_api = client.CoreV1Api(api)
        core_api.list_node(_request_timeout=10)
    except (K8sTopologyError, OSError, client.exceptions.ApiException) as exc:
        pytest.skip(f"KIND_E2E=1 but no Kubernetes cluster answers: {exc}")
    except Exception as exc:  # urllib3 connection errors
        pytest.skip(f"KIND_E2E=1 but no Kubernetes cluster answers: {exc!r}")
    return core_api


def test_cluster_matches_kind_config(core: Any) -> None:
    from k8s_topology import discover

    expected_workers = [n for n in _kind_config()["nodes"] if n["role"] == "worker"]
    nodes = sorted(core.list_node().items, key=lambda n: n.metadata.name)
    planes = [n for n in nodes if n.metadata.name.endswith("-control-plane")]
    assert len(planes) == 1
    cluster = planes[0].metadata.name.removesuffix("-control-plane")
    names = [f"{cluster}-worker"] + [f"{cluster}-worker{i}" for i in range(2, len(expected_workers) + 1)]
    by_name = {n.metadata.name: n for n in nodes}
    assert sorted(by_name) == sorted([planes[0].metadata.name, *names])
    for name, spec in zip(names, expected_workers, strict=True):
        labels = by_name[name].metadata.labels
        for key, value in spec.get("labels", {}).items():
            assert (
                labels.get(key) == value
            ), f"{name}: label {key}={labels.get(key)!r}, kind-config says {value!r}"
        assert "node-role.kubernetes.io/worker" in labels  # applied by run-e2e.sh after creation
    topology = discover()
    assert sorted(topology.names) == sorted(names)  # the control plane is not a worker node


def test_driver_job_succeeded_and_every_task_ran_where_planned(core: Any) -> None:
    from kubernetes import client

    job = client.BatchV1Api(core.api_client).read_namespaced_job(JOB, NAMESPACE)
    assert job.status is not None and job.status.succeeded == 1, f"job {JOB} status: {job.status}"
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={JOB}").items
    assert pods, f"no pod of job {JOB}"
    log_text = core.read_namespaced_pod_log(pods[0].metadata.name, NAMESPACE)
    lines = [ln for ln in log_text.splitlines() if ln.startswith("E2E_RESULT ")]
    assert lines, "driver log has no E2E_RESULT line"
    result = json.loads(lines[-1].split(" ", 1)[1])
    workers = {
        n.metadata.name for n in core.list_node().items if not n.metadata.name.endswith("-control-plane")
    }
    assert result["mismatches"] == {}
    assert len(result["nodes_used"]) >= 2 and set(result["nodes_used"]) <= workers
    assert result["proven"] == result["planned"]
    saved = os.environ.get("KIND_E2E_RESULT")
    if saved:  # the script's own copy must say the same
        assert json.loads(Path(saved).read_text())["proven"] == result["proven"]
