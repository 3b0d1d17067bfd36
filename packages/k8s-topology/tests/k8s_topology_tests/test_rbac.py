"""The RBAC manifests: least privilege, and valid Kubernetes objects checked offline.

``kubernetes-validate --strict`` ships the OpenAPI schemas in its wheel; it needs no cluster and no
network (when root, the test proves it by running the validator in a namespace with no network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(180)

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def validate(*paths: Path, strict: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kubernetes_validate", *(["--strict"] if strict else []), *map(str, paths)]
    if os.geteuid() == 0 and shutil.which("unshare"):
        cmd = ["unshare", "-n", *cmd]  # no network at all: the validation is really offline
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def test_manifests_validate_strictly_offline() -> None:
    files = sorted(MANIFESTS.glob("*.yaml"))
    assert [f.name for f in files] == ["namespace.yaml", "network-policy.yaml", "rbac.yaml"]
    result = validate(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 7


def test_only_the_namespace_can_reach_its_pods() -> None:
    """The interchange and the node stores (no password) take connections from the namespace's pods only."""
    (policy,) = docs("network-policy.yaml")
    assert policy["kind"] == "NetworkPolicy" and policy["metadata"]["namespace"] == "parsl"
    assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        # A typo'd field next to the real one: only --strict rejects unknown fields.
        ('  - apiGroups: [""]\n    resources: ["pods"]\n    verbs: ["get"]\n    verb: ["delete"]\n', "verb"),
        # A required field missing.
        ('  - apiGroups: [""]\n    resources: ["pods"]\n', "'verbs' is a required property"),
    ],
)
def test_a_broken_manifest_fails_validation(tmp_path: Path, broken: str, expected: str) -> None:
    bad = tmp_path / "bad-role.yaml"
    bad.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: broken\n  namespace: parsl\n"
        f"rules:\n{broken}"
    )
    result = validate(bad)
    assert result.returncode != 0
    assert "did not validate" in result.stdout + result.stderr
    assert expected in result.stdout + result.stderr


def test_rbac_is_least_privilege() -> None:
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs("rbac.yaml")}
    assert set(objs) == {
        ("ServiceAccount", "parsl-driver"),
        ("ClusterRole", "saga-parsl-node-reader"),
        ("ClusterRoleBinding", "saga-parsl-node-reader"),
        ("Role", "saga-parsl-worker-pods"),
        ("RoleBinding", "saga-parsl-worker-pods"),
    }
    cluster_rules = objs[("ClusterRole", "saga-parsl-node-reader")]["rules"]
    assert cluster_rules == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]
    role = objs[("Role", "saga-parsl-worker-pods")]
    assert role["metadata"]["namespace"] == "parsl"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]}
    ]
    for kind, name in (
        ("ClusterRoleBinding", "saga-parsl-node-reader"),
        ("RoleBinding", "saga-parsl-worker-pods"),
    ):
        binding = objs[(kind, name)]
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "parsl-driver", "namespace": "parsl"}
        ]
    assert objs[("RoleBinding", "saga-parsl-worker-pods")]["metadata"]["namespace"] == "parsl"
    assert docs("namespace.yaml")[0]["metadata"]["name"] == "parsl"
