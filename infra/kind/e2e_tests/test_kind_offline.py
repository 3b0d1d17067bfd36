"""Tier 2 validated offline: the kind pipeline's files pass the tools CI would run, and broken ones fail.

No cluster, Docker or network is needed: kubernetes-validate (bundled OpenAPI schemas, --strict), the
GitHub-workflow schema bundled in check-jsonschema, our own JSON schema for the kind config, yamllint,
``bash -n`` and shellcheck (when installed), plus checks of the rules a kind user relies on (image tags,
pull policy, node names, label rules) that no schema expresses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

KUBERNETES_VERSION = "1.31.0"  # kindest/node:v1.31.0, the node image run-e2e.sh and the workflow pin


def _root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "infra" / "kind" / "kind-config.yaml").is_file():
            return parent
    raise FileNotFoundError(f"no infra/kind/kind-config.yaml above {here}")


ROOT = _root()
KIND = ROOT / "infra" / "kind"
MANIFESTS = sorted((KIND / "manifests").glob("*.yaml"))
# Namespace and RBAC are k8s-topology's (reused, not copied); run-e2e.sh applies them first.
K8S_MANIFESTS = ROOT / "packages" / "k8s-topology" / "manifests"
KIND_CONFIG = KIND / "kind-config.yaml"
SCHEMA = KIND / "schema" / "kind-config.schema.json"
SCRIPT = KIND / "run-e2e.sh"
DOCKERFILE = ROOT / "images" / "worker" / "Dockerfile"
# Pants ignores dot-directories, so .github/ never reaches a Pants sandbox: outside Pants the file is
# found from this file's location, under Pants through SAGA_REPO_ROOT (passed by [test] extra_env_vars).
_WORKFLOW_CANDIDATES = [ROOT / ".github" / "workflows" / "kind-e2e.yml"]
if os.environ.get("SAGA_REPO_ROOT"):
    _WORKFLOW_CANDIDATES.append(Path(os.environ["SAGA_REPO_ROOT"]) / ".github" / "workflows" / "kind-e2e.yml")
WORKFLOW = next((p for p in _WORKFLOW_CANDIDATES if p.is_file()), None)


def _workflow() -> Path:
    if WORKFLOW is None:
        pytest.skip(
            "the workflow file is outside this sandbox (Pants ignores .github/); set SAGA_REPO_ROOT to the "
            f"repository root to check it; looked in {[str(p) for p in _WORKFLOW_CANDIDATES]}"
        )
    return WORKFLOW


def _tool(module: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a validator's CLI (``python -m <module>``) exactly as CI would."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, check=False
    )


def _write_docs(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# ----------------------------------------------------------------------------------------------- manifests
def test_manifests_exist() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for m in MANIFESTS for d in _load_all(m)}
    assert kinds == {("Job", "saga-e2e-driver")}, "namespace/RBAC must come from k8s-topology, not a copy"
    assert (K8S_MANIFESTS / "namespace.yaml").is_file() and (K8S_MANIFESTS / "rbac.yaml").is_file()


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_kubernetes_validate_strict(manifest: Path) -> None:
    result = _tool("kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("unknown_field", "imagePullPolicyy"),
        ("wrong_type", "backoffLimit"),
        ("missing_required", "containers"),
    ],
)
def test_broken_manifest_fails_kubernetes_validate(tmp_path: Path, breakage: str, expected: str) -> None:
    """The validation has teeth: each of these mistakes makes the CI check fail."""
    (job,) = _load_all(KIND / "manifests" / "driver-job.yaml")
    container = job["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown_field":
        container["imagePullPolicyy"] = container.pop("imagePullPolicy")
    elif breakage == "wrong_type":
        job["spec"]["backoffLimit"] = "zero"
    else:
        del job["spec"]["template"]["spec"]["containers"]
    broken = _write_docs(tmp_path / "broken.yaml", [job])
    result = _tool("kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, broken)
    assert result.returncode != 0, f"broken manifest ({breakage}) passed:\n{result.stdout}"
    assert expected in result.stdout + result.stderr


def test_driver_job_runs_under_k8s_topology_rbac_that_grants_what_it_calls() -> None:
    """discover/watch need nodes get/list/watch; the pinned provider needs pods create/get/list/delete."""
    (job,) = _load_all(KIND / "manifests" / "driver-job.yaml")
    namespace = job["metadata"]["namespace"]
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    docs = _load_all(K8S_MANIFESTS / "namespace.yaml") + _load_all(K8S_MANIFESTS / "rbac.yaml")
    assert {"kind": "Namespace", "name": namespace} in [
        {"kind": d["kind"], "name": d["metadata"]["name"]} for d in docs
    ]
    sa = [d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == account]
    assert sa and sa[0]["metadata"]["namespace"] == namespace
    granted: dict[str, set[str]] = {}
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if {"kind": "ServiceAccount", "name": account, "namespace": namespace} not in binding["subjects"]:
            continue
        if binding["kind"] == "RoleBinding":
            assert binding["metadata"]["namespace"] == namespace
        role = next(
            d
            for d in docs
            if d["kind"] == binding["roleRef"]["kind"] and d["metadata"]["name"] == binding["roleRef"]["name"]
        )
        for rule in role["rules"]:
            for resource in rule["resources"]:
                granted.setdefault(resource, set()).update(rule["verbs"])
    assert {"get", "list", "watch"} <= granted.get("nodes", set())
    assert {"create", "get", "list", "delete"} <= granted.get("pods", set())
    assert "--namespace=" + namespace in job["spec"]["template"]["spec"]["containers"][0]["args"]
    script = SCRIPT.read_text()
    assert 'K8S_MANIFESTS="$ROOT/packages/k8s-topology/manifests"' in script
    assert f'NAMESPACE="{namespace}"' in script


def test_driver_job_uses_a_loaded_image_correctly() -> None:
    (job,) = _load_all(KIND / "manifests" / "driver-job.yaml")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"  # kind-loaded images must never be pulled
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["WORKER_IMAGE"]["value"] == container["image"]  # workers run the same image as the driver
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    # The driver sits on the control plane, leaving the three workers to worker pods.
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {
        "key": "node-role.kubernetes.io/control-plane",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in pod["tolerations"]


# ------------------------------------------------------------------------------------------- kind config
def test_kind_config_matches_schema() -> None:
    result = _tool("check_jsonschema", "--schemafile", SCHEMA, KIND_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kind_config_shape() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    zones = [n.get("labels", {}).get("topology.kubernetes.io/zone") for n in config["nodes"][1:]]
    assert all(zones) and len(set(zones)) >= 2, f"workers need zone labels in >= 2 zones, got {zones}"
    labels = [key for n in config["nodes"] for key in n.get("labels", {})]
    assert not [k for k in labels if k.startswith("node-role.kubernetes.io/")]
    assert "name" not in config, "the cluster name comes from `kind create cluster --name` in run-e2e.sh"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["nodes"][1]["labels"].update({"node-role.kubernetes.io/worker": ""}), "node-role"),
        (lambda c: c["nodes"][1].update({"rolee": "worker"}), "rolee"),
        (
            lambda c: c.update({"nodes": [n for n in c["nodes"] if n["role"] != "control-plane"]}),
            "does not contain items",
        ),
        (lambda c: c.update({"apiVersion": "kind.x-k8s.io/v1alpha3"}), "v1alpha4"),
        (lambda c: c["nodes"][2]["labels"].update({"topology.kubernetes.io/zone": "Zone A!"}), "Zone A!"),
    ],
    ids=["node-role-label", "unknown-key", "no-control-plane", "old-api-version", "bad-label-value"],
)
def test_broken_kind_config_fails_schema(tmp_path: Path, mutate: Any, expected: str) -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    mutate(config)
    broken = tmp_path / "kind-config.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = _tool("check_jsonschema", "--schemafile", SCHEMA, broken)
    assert result.returncode != 0, f"broken kind config passed the schema: {config}"
    assert expected in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------- workflow
def test_workflow_passes_github_workflow_schema() -> None:
    result = _tool("check_jsonschema", "--builtin-schema", "vendor.github-workflows", _workflow())
    assert result.returncode == 0, result.stdout + result.stderr


def test_broken_workflow_fails_github_workflow_schema(tmp_path: Path) -> None:
    workflow = yaml.safe_load(_workflow().read_text())
    del workflow["jobs"]["kind-e2e"]["runs-on"]
    broken = tmp_path / "kind-e2e.yml"
    broken.write_text(yaml.safe_dump(workflow))
    result = _tool("check_jsonschema", "--builtin-schema", "vendor.github-workflows", broken)
    assert result.returncode != 0


def test_workflow_pins_actions_and_runs_the_script() -> None:
    text = _workflow().read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert any(u.startswith("helm/kind-action@") for u in uses)
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+){0,2}|[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    kind_action = next(u for u in uses if u.startswith("helm/kind-action@"))
    assert re.fullmatch(
        r"helm/kind-action@v\d+\.\d+\.\d+", kind_action
    ), "pin kind-action to an exact version"
    assert "infra/kind/run-e2e.sh" in text
    assert "install_only: true" in text  # the script owns the cluster's lifecycle
    assert "KIND_E2E" in text and "-m kind" in text


# ----------------------------------------------------------------------------------------------- yamllint
def test_yamllint_strict_passes() -> None:
    result = _tool("yamllint", "--strict", "-c", KIND / "yamllint.yaml", KIND_CONFIG, *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_strict_passes_on_the_workflow() -> None:
    result = _tool("yamllint", "--strict", "-c", KIND / "yamllint.yaml", _workflow())
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_catches_duplicate_keys(tmp_path: Path) -> None:
    broken = tmp_path / "dup.yaml"
    broken.write_text(KIND_CONFIG.read_text() + "kind: Cluster\n")
    result = _tool("yamllint", "--strict", "-c", KIND / "yamllint.yaml", broken)
    assert result.returncode != 0 and "duplication of key" in result.stdout


# ------------------------------------------------------------------------------------------------ script
def test_script_parses_with_bash_n() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_bash_n_catches_a_broken_script(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sh"
    broken.write_text(SCRIPT.read_text().replace("\ndone\n", "\n", 1))
    result = subprocess.run(["bash", "-n", str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck); bash -n still ran")
    result = subprocess.run(
        [shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_script_follows_the_kind_rules() -> None:
    """The points a daily kind user would check: tags, pull policy, node names, labels, cleanup."""
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -Eeuo pipefail" in text
    # Loaded image: unique non-latest tag, refused if 'latest'; loaded into the cluster by name.
    assert re.search(r'IMAGE="saga-e2e-worker:\$IMAGE_TAG"', text)
    assert "[[ $IMAGE_TAG != latest ]]" in text
    assert 'kind load docker-image "$IMAGE" --name "$CLUSTER"' in text
    # The manifest's placeholder is the one the script substitutes.
    placeholder = re.search(r'sed "s\|(saga-e2e-worker:[A-Z_]+)\|', text)
    assert placeholder and placeholder.group(1) in (KIND / "manifests" / "driver-job.yaml").read_text()
    # kind names nodes <cluster>-worker, <cluster>-worker2, ...: as many as kind-config has workers.
    workers = re.search(r"WORKERS=\(([^)]*)\)", text)
    assert workers is not None
    names = workers.group(1).split()
    n_workers = sum(1 for n in yaml.safe_load(KIND_CONFIG.read_text())["nodes"] if n["role"] == "worker")
    assert names == ['"$CLUSTER-worker"'] + [f'"$CLUSTER-worker{i}"' for i in range(2, n_workers + 1)]
    # node-role labels only with kubectl, after the cluster is up.
    assert text.index("kind create cluster") < text.index("node-role.kubernetes.io/worker=")
    # Logs on failure, cluster deleted in the EXIT trap; never someone else's cluster.
    assert "trap cleanup EXIT" in text and 'kind export logs "$ARTIFACTS/kind-logs" --name "$CLUSTER"' in text
    assert 'kind delete cluster --name "$CLUSTER"' in text and "already exists; refusing" in text
    # Every kubectl call names the context: never the user's current one.
    for line in text.splitlines():
        if re.match(r"\s*kubectl ", line) or "| kubectl" in line:
            assert '--context "$CONTEXT"' in line, line
    # Staged build context matches the Dockerfile's COPY sources.
    copies = re.findall(r"^COPY (\S+)", DOCKERFILE.read_text(), flags=re.M)
    assert copies == ["wheels/", "e2e_tests/"]
    assert 'mkdir -p "$CONTEXT_DIR/wheels"' in text and '"$CONTEXT_DIR/e2e_tests"' in text


# ------------------------------------------------------------------------------------------- Dockerfile
def test_dockerfile_rules() -> None:
    """hadolint-style rules that matter here (hadolint itself is not installable offline)."""
    text = DOCKERFILE.read_text()
    instructions = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert instructions[0] == "ARG BASE_IMAGE=python:3.12-slim"
    assert instructions[1] == "FROM ${BASE_IMAGE}"
    # Same parsl as the driver, exactly, or the interchange refuses the pools.
    pins = re.findall(r"parsl==([\w.]+)", text)
    assert pins and set(pins) == {
        version("parsl")
    }, f"Dockerfile pins parsl {pins}, driver has {version('parsl')}"
    assert "sys.version_info[:2]" in text and "(3, 12)" in text
    assert re.search(r"^USER 10001$", text, flags=re.M)  # not root
    assert 'ENTRYPOINT ["python", "-m", "parsl_affinity_htex.worker_pool"]' in text
    assert ":latest" not in text
    assert "PIP_NO_CACHE_DIR=1" in text and "rm -rf /tmp/wheels" in text
    # The driver side is CPython 3.12 too (the pools must match its minor version).
    assert sys.version_info[:2] == (3, 12)


def test_kind_config_schema_is_valid_json_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    result = _tool("check_jsonschema", "--check-metaschema", SCHEMA)
    assert result.returncode == 0, result.stdout + result.stderr
    assert schema["properties"]["apiVersion"] == {"const": "kind.x-k8s.io/v1alpha4"}
