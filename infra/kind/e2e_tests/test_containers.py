"""Tier 1b: the worker image itself, one container per node, the driver on the host.

Proves what the namespace tier cannot: that images/worker/Dockerfile produces an image whose pools
register with this driver (same Python minor, same parsl) and run the saga-dfk-planned workflow where
planned, and that losing a whole container mid-run is survived.

Three containers, each with its own network namespace, hostname (= node name) and address on a private
bridge network whose gateway address the host owns (``e2e_tests/docker_nodes.py``); the driver (DFK,
affinity interchange, witness) listens there. Each container runs the image's own entry point
(``python -m parsl_affinity_htex.worker_pool``) as the image's own user with the executor's pool
arguments and ``PARSL_NODE_NAME`` / ``--node-name`` (``NODE_NAME`` counts only inside Kubernetes).
CurveZMQ stays on: a copy of the driver's certificate directory, owned by the image user and 0700, is
mounted read-only. Where a task ran is proven by the witness: the peer address of the TCP connection the
task opens from inside its container.

Engine and image: ``DOCKER_HOST`` (CI starts a private engine, .ci/docker_engine.sh) and
``SAGA_E2E_WORKER_IMAGE`` (CI builds it with images/worker/build-image.sh after ``./pants package ::``).
Without SAGA_E2E_WORKER_IMAGE the test builds the image itself from dist/*.whl when run from a checkout
as root (pytest directly; a Pants sandbox has no dist/). Skipped with the reason when no engine answers
or no image can be had -- unless ``SAGA_E2E_REQUIRE_DOCKER=1`` (CI as root), which turns those skips into
failures so the tier cannot silently stop running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_tests.docker_nodes import ContainerCluster, DockerUnavailable, engine
from repo_support.pools import AFFINITY_POOL_MODULE, pool_argv
from repo_support.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

NODES = ["node-a", "node-b", "node-c"]
VICTIM = "node-b"
SLOTS = 2
IMAGE_UID = 10001  # images/worker/Dockerfile: USER 10001
POOL_START_TIMEOUT = 120
REQUIRED = os.environ.get("SAGA_E2E_REQUIRE_DOCKER") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"SAGA_E2E_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def _root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "images" / "worker" / "Dockerfile").is_file():
            return parent
    raise FileNotFoundError("images/worker/Dockerfile not found above this test")


# ------------------------------------------------------------------------ the build, checked offline
def test_local_image_build_matches_the_kind_build() -> None:
    """build-image.sh (CI here) and run-e2e.sh (kind) build the same Dockerfile the same way."""
    root = _root()
    build = (root / "images" / "worker" / "build-image.sh").read_text()
    base = (root / "images" / "worker" / "build-base.sh").read_text()
    kind = (root / "infra" / "kind" / "run-e2e.sh").read_text()
    dockerfile = (root / "images" / "worker" / "Dockerfile").read_text()
    for script in (build, kind):
        # Same staged context, matching the Dockerfile's COPY sources, and the same tag scheme.
        assert 'mkdir -p "$CONTEXT_DIR/wheels"' in script and '"$CONTEXT_DIR/e2e_tests"' in script
        assert '"$CONTEXT_DIR/.dockerignore"' in script
        assert 'IMAGE="saga-e2e-worker:$IMAGE_TAG"' in script
        assert 'IMAGE_TAG="${IMAGE_TAG:-e2e-$GIT_SHA-$(date +%s)}"' in script
        assert "[[ $IMAGE_TAG != latest ]]" in script
        assert '--build-arg "BASE_IMAGE=$BASE_IMAGE"' in script and "images/worker/Dockerfile" in script
    copies = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copies == ["wheels/", "e2e_tests/"]
    # Here: no bridge on the engine, no Docker Hub (BuildKit would fetch the `# syntax=` frontend).
    assert "--network=host" in build and "DOCKER_BUILDKIT=0" in build
    # The base: this machine's Debian release, minbase, the Debian mirror, the driver's 3.12, cached.
    assert "--variant=minbase" in base and "http://deb.debian.org/debian" in base
    assert "VERSION_CODENAME" in base and "sys.version_info[:2] == (3, 12)" in base
    assert "/var/cache/saga-worker-base" in base and '"$DOCKER" import' in base
    assert "PIP_CONFIG_FILE=/dev/null" in base and "/etc/ssl/certs/ca-certificates.crt" in base
    for path in ("images/worker/build-image.sh", "images/worker/build-base.sh"):
        result = subprocess.run(["bash", "-n", str(root / path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        shellcheck = shutil.which("shellcheck")
        if shellcheck:
            result = subprocess.run([shellcheck, str(root / path)], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------------------------ engine + image
@pytest.fixture(scope="module")
def docker_client() -> Any:
    try:
        return engine()
    except DockerUnavailable as exc:
        _unavailable(f"tier 1b needs a Docker engine: {exc}")


@pytest.fixture(scope="module")
def worker_image(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SAGA_E2E_WORKER_IMAGE")
    if given:
        try:
            docker_client.images.get(given)
        except Exception as exc:
            pytest.fail(f"SAGA_E2E_WORKER_IMAGE={given} is not an image of this engine: {exc}")
        yield given
        return
    root = _root()
    if not sorted((root / "dist").glob("*.whl")):
        _unavailable(
            "no SAGA_E2E_WORKER_IMAGE and no dist/*.whl to build one from "
            "(./pants package ::, then images/worker/build-image.sh)"
        )
    if os.geteuid() != 0 and not os.environ.get("BASE_IMAGE"):
        _unavailable("building the base image needs root (debootstrap); set SAGA_E2E_WORKER_IMAGE or BASE_IMAGE")
    image_file = tmp_path_factory.mktemp("image") / "image"
    subprocess.run(
        [str(root / "images" / "worker" / "build-image.sh"), "--image-file", str(image_file)],
        check=True,
        stdout=sys.stderr,
    )
    tag = image_file.read_text().strip()
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


def test_image_has_the_drivers_python_and_parsl(docker_client: Any, worker_image: str) -> None:
    """Same Python minor and parsl as the driver (else the interchange refuses the pools), non-root."""
    import parsl

    probe = (
        "import json, os, sys, parsl, parsl_affinity_htex, e2e_tests.workflow;"
        "print(json.dumps({'python': list(sys.version_info[:2]), 'parsl': parsl.__version__,"
        " 'uid': os.getuid(), 'workflow': e2e_tests.workflow.__file__}))"
    )
    out = docker_client.containers.run(
        worker_image, entrypoint=["python", "-c", probe], network_mode="none", remove=True
    )
    seen = json.loads(bytes(out).decode().strip().splitlines()[-1])
    assert seen["python"] == list(sys.version_info[:2])
    assert seen["parsl"] == parsl.__version__
    assert seen["uid"] == IMAGE_UID
    assert seen["workflow"].startswith("/opt/saga-e2e/e2e_tests/")
    config = docker_client.images.get(worker_image).attrs["Config"]
    assert config["Entrypoint"] == ["python", "-m", "parsl_affinity_htex.worker_pool"]


# ------------------------------------------------------------------------------------- the runs
def _pool_mounts(executor: Any, scratch: Path, node: str, args: list[str]) -> tuple[list[str], dict[str, Any], str | None]:
    """The pool's arguments with container paths, the mounts they need, and the user to run as.

    As root: a copy of the certificate directory owned by the image user (0700, what CurveZMQ checks),
    and the image's own user. Otherwise (docker group): the directory as is, and this user's uid.
    """
    certs = scratch / "pool-certs"
    logs = scratch / "pool-logs" / node
    logs.mkdir(parents=True, exist_ok=True)
    user: str | None = None
    if not certs.exists():
        shutil.copytree(executor.cert_dir, certs)
    if os.geteuid() == 0:
        for path in [certs, *certs.rglob("*"), logs]:
            os.chown(path, IMAGE_UID, IMAGE_UID)
    else:
        user = f"{os.getuid()}:{os.getgid()}"
    os.chmod(certs, 0o700)
    volumes: dict[str, Any] = {
        str(certs): {"bind": "/pool-certs", "mode": "ro"},
        str(logs): {"bind": "/pool-logs", "mode": "rw"},
    }
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--cert_dir":
            next(it)
            out += ["--cert_dir", "/pool-certs"]
        elif arg.startswith("--logdir="):
            out.append("--logdir=/pool-logs")
        elif arg.startswith("--logconf=") and arg.split("=", 1)[1] not in ("", "None"):
            logconf = arg.split("=", 1)[1]
            volumes[logconf] = {"bind": logconf, "mode": "ro"}
            out.append(arg)
        else:
            out.append(arg)
    return out, volumes, user


def _run_on_containers(
    docker_client: Any,
    image: str,
    scratch: Path,
    workflow: list[Any],
    during: Callable[[ContainerCluster, Any, Any, dict[str, Any]], None] | None = None,
) -> tuple[ContainerCluster, Any, dict[str, Any]]:
    from parsl.providers import LocalProvider

    import saga_dfk
    import saga_graphs
    from e2e_tests.runner import collect, parsl_session, submit_workflow, warm_up
    from e2e_tests.witness import Witness
    from e2e_tests.workflow import network_spec
    from parsl_affinity_htex import AffinityHighThroughputExecutor

    # the workflow's stages are declared in it as they are submitted, under their real task ids
    costs = saga_graphs.DeclaredCostModel(default=saga_graphs.UniformCostModel(cost=0.1, output_size=0.0))
    cluster = ContainerCluster(docker_client, image, NODES).create()
    try:
        executor = AffinityHighThroughputExecutor(
            label="containers",
            address=cluster.driver_address,  # the bridge's gateway: the host side of every container's veth
            provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
            max_workers_per_node=SLOTS,
            heartbeat_period=1,
            heartbeat_threshold=5,  # a killed container's pool is declared lost after ~5 s
            affinity_grace_period=3.0,
            encrypted=True,
        )
        config = saga_dfk.SagaConfig(
            executors=[executor],
            saga_scheduler="HEFT",
            network=network_spec(NODES, None, slots=SLOTS),
            cost_model=costs,
            affinity="hard",
            min_nodes=len(NODES),
            strategy="none",
            run_dir=str(scratch / "runinfo"),
        )
        with Witness(cluster.driver_address) as witness, parsl_session(config, loader=saga_dfk.load) as dfk:
            for node in NODES:
                argv = pool_argv(executor, node=node, block_id=node, module=AFFINITY_POOL_MODULE)
                assert argv[1:3] == ["-m", AFFINITY_POOL_MODULE], argv[:3]
                args, volumes, user = _pool_mounts(executor, scratch, node, argv[3:])
                # The image's entry point runs; only its arguments come from the executor.
                cluster.start(node, args, environment={"PARSL_NODE_NAME": node}, volumes=volumes, user=user)
            try:
                wait_until(
                    lambda: set(executor.connected_nodes()) == set(NODES),
                    timeout=POOL_START_TIMEOUT,
                    what="one containerised pool per node to register",
                )
            except TimeoutError as exc:
                logs = {n: cluster.logs(n) for n in NODES}
                raise AssertionError(f"{exc}; registered {executor.connected_nodes()}; container logs {logs}") from exc
            warm_up(executor.label, witness, NODES, SLOTS, timeout=120)
            started = time.time()
            futures = submit_workflow(workflow, witness, executor_label=executor.label, costs=costs)
            dfk.execute()
            if during is not None:
                during(cluster, witness, dfk, futures)
            run = collect(workflow, futures, witness, started=started, timeout=300)
            run.planned = {name: dfk.saga_assignments[f.tid].node for name, f in futures.items()}
            report = dfk.run_report()
            for node in NODES:  # the engine's record agrees with the addresses the proof uses
                container = cluster.container(node)
                assert container.attrs["Config"]["Hostname"] == node
                if container.status == "running":
                    assert cluster.inspected_address(node) == cluster.node(node).address
    finally:
        cluster.destroy()
    assert cluster.leftovers() == [], "teardown left containers, the network or its bridge behind"
    return cluster, run, report


def _print_run(title: str, run: Any, proven: dict[str, str | None]) -> None:
    print(f"\n== containers, {title}: makespan {run.makespan:.2f} s (driver wall clock)")
    for task in sorted(run.results, key=lambda t: run.results[t]["start"]):
        print(f"   {task:12s} planned {run.planned.get(task, '-'):7s} ran in {proven.get(task)}")


def test_every_task_runs_in_its_planned_container(docker_client: Any, worker_image: str, tmp_path: Path) -> None:
    from e2e_tests.workflow import stages

    workflow = stages()
    cluster, run, report = _run_on_containers(docker_client, worker_image, tmp_path, workflow)
    proven = {t: n for t, n in run.ran_on(cluster.node_for_address).items() if t in run.results}  # no warm-ups
    _print_run(f"planned makespan {report.get('planned_makespan')}", run, proven)
    assert set(run.results) == {s.name for s in workflow}
    assert run.mismatches(cluster.node_for_address) == {}  # proven by each container's own address
    assert {t: r["node"] for t, r in run.results.items()} == proven  # the pools' claims agree
    assert {t: r["local_address"] for t, r in run.results.items()} == {
        t: cluster.node(n).address for t, n in proven.items() if n is not None
    }
    assert len(set(proven.values())) >= 2


def test_container_killed_mid_run_the_run_still_completes(
    docker_client: Any, worker_image: str, tmp_path: Path
) -> None:
    from e2e_tests.workflow import stages

    workflow = stages(transforms=6, combines=3, lights=6)
    killed_at: list[float] = []

    def kill_victim_when_busy(cluster: ContainerCluster, witness: Any, dfk: Any, futures: dict[str, Any]) -> None:
        planned_victim = {n for n, f in futures.items() if dfk.saga_assignments[f.tid].node == VICTIM}
        assert planned_victim, f"the plan put nothing on {VICTIM}; the test would prove nothing"

        def victim_running() -> bool:
            return any(
                s.task in planned_victim and cluster.node_for_address(s.peer_address) == VICTIM
                for s in witness.sightings()
            )

        wait_until(victim_running, timeout=120, what=f"a task to start in {VICTIM}'s container")
        killed_at.append(time.time())
        cluster.kill(VICTIM)
        assert cluster.container(VICTIM).status != "running"

    cluster, run, report = _run_on_containers(
        docker_client, worker_image, tmp_path, workflow, during=kill_victim_when_busy
    )
    proven = {t: n for t, n in run.ran_on(cluster.node_for_address).items() if t in run.results}  # no warm-ups
    first_start = min(r["start"] for r in run.results.values())
    _print_run(f"{VICTIM} killed at +{killed_at[0] - first_start:.1f}s", run, proven)
    print(f"   lost nodes per saga_dfk: {report.get('lost_nodes')}")

    assert set(run.results) == {s.name for s in workflow}  # everything completed, inputs intact
    late = [s for seen in run.sightings.values() for s in seen if s.received_at > killed_at[0] + 0.5]
    assert all(cluster.node_for_address(s.peer_address) != VICTIM for s in late), "a task ran in the dead container"
    for task, node in proven.items():
        if node == VICTIM:
            assert run.results[task]["end"] < killed_at[0], f"{task} claims to have finished in dead {VICTIM}"
    interrupted = {
        t
        for t, seen in run.sightings.items()
        if t in run.results
        and any(cluster.node_for_address(s.peer_address) == VICTIM for s in seen) and proven[t] != VICTIM
    }
    print(f"   re-run elsewhere after the kill: {sorted(interrupted)}")
    assert interrupted, f"no task was interrupted in {VICTIM}; the kill came too late to test anything"
