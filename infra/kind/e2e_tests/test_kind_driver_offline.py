"""Tier 2's in-cluster driver, run here against kmock + fake kubelet + namespaces.

The kind Job runs ``python -m e2e_tests.kind_driver``; this test runs the same ``main()`` with a
kubeconfig that points at kmock (the only emulated piece: this machine cannot run a kube-apiserver),
so discovery, pinned pods, the pod-IP -> node proof and the E2E_RESULT line it prints are exercised
before anyone runs it on kind. Pods share their node's namespace here, so a pod's IP is its node's.

Needs root and ``ip netns`` (skipped with the reason otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from e2e_tests import kind_driver
from e2e_tests.kube import FakeKubelet, node_object
from k8s_topology.testing import FakeApiServer
from repo_support.netns import NetnsCluster

pytestmark = [pytest.mark.netns, pytest.mark.timeout(400)]

WORKERS = ["kind-worker", "kind-worker2", "kind-worker3"]
NAMESPACE = "parsl"


def test_kind_driver_main_proves_placement_and_prints_result(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
    apiserver: FakeApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = netns_factory(WORKERS)
    for name, zone in zip(WORKERS, ["zone-a", "zone-a", "zone-b"], strict=True):
        apiserver.add_nodes(node_object(name, zone=zone))
    monkeypatch.setenv("KUBECONFIG", apiserver.kubeconfig(tmp_path / "kubeconfig"))
    with FakeKubelet(apiserver, cluster, NAMESPACE, log_dir=str(tmp_path)):
        code = kind_driver.main(
            [
                f"--namespace={NAMESPACE}",
                "--image=saga-e2e-worker:e2e-test",
                f"--address={cluster.driver_address}",
                "--min-nodes=2",
                f"--run-dir={tmp_path / 'runinfo'}",
            ]
        )
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("E2E_RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    print(line)
    assert code == 0
    assert result["mismatches"] == {}
    assert result["tasks"] == 15 and len(result["nodes_used"]) >= 2
    assert set(result["nodes_used"]) <= set(WORKERS)
    assert result["proven"] == result["planned"]
    # each pod ran a node store beside its pool (the sidecar), advertised at its pod IP
    addresses = {cluster.node(n).address for n in WORKERS}
    assert sorted(result["node_stores"]) == WORKERS
    assert all(len(s) == 1 and s[0].split(":")[0] in addresses for s in result["node_stores"].values())
    # the workflow's 4 MiB results moved node to node, not through the driver
    assert (
        result["data_movement"].get("peer", {}).get("edges", 0)
        + result["data_movement"].get("local", {}).get("edges", 0)
        >= 1
    ), result["data_movement"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--namespace=parsl", "--image=saga-e2e-worker:latest", "--address=10.0.0.1"], "non-latest tag"),
        (["--namespace=parsl", "--image=saga-e2e-worker", "--address=10.0.0.1"], "non-latest tag"),
        (["--namespace=parsl", "--image=saga-e2e-worker:x"], "POD_IP is not set"),
    ],
)
def test_kind_driver_rejects_bad_arguments(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POD_IP", raising=False)
    with pytest.raises(SystemExit) as exc:
        kind_driver.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
