"""Tier 1b: the worker image itself, one container per node on a private Docker network.

Proves what the namespace tier cannot: that images/worker/Dockerfile produces an image whose pools
register with this driver (same Python minor, same parsl) and run the workflow where planned. The driver
runs here; containers reach its interchange at the Docker network's gateway address; CurveZMQ stays on
(the driver's certificate directory is mounted read-only and the pools run as root to read it, since it
is 0700 root-owned). The proof of placement is again the witness: each task's TCP peer address is its
container's address on the private network.

Skipped, with the reason, when no Docker engine answers (the development machines have none) or when no
image can be had: set SAGA_E2E_WORKER_IMAGE to a built image, or have dist/*.whl (``./pants package ::``)
so the test builds it. Not run on the development machines of this project.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

NODES = ["node-a", "node-b", "node-c"]
SLOTS = 2


def _root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "images" / "worker" / "Dockerfile").is_file():
            return parent
    raise FileNotFoundError("images/worker/Dockerfile not found above this test")


@pytest.fixture(scope="module")
def docker_client() -> Any:
    try:
        from testcontainers.core.docker_client import DockerClient

        engine = DockerClient().client  # the docker SDK client testcontainers itself uses
        engine.ping()
    except Exception as exc:
        pytest.skip(f"tier 1b needs a Docker engine and none answers: {exc!r}")
    return engine


@pytest.fixture(scope="module")
def worker_image(docker_client: Any) -> Iterator[str]:
    given = os.environ.get("SAGA_E2E_WORKER_IMAGE")
    if given:
        yield given
        return
    root = _root()
    wheels = sorted((root / "dist").glob("*.whl"))
    if not wheels:
        pytest.skip("no SAGA_E2E_WORKER_IMAGE and no dist/*.whl to build one from (run ./pants package ::)")
    tag = f"saga-e2e-worker:tc-{os.getpid()}-{int(time.time())}"
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy(wheel, Path(context) / "wheels")
        shutil.copytree(root / "infra" / "kind" / "e2e_tests", Path(context) / "e2e_tests")
        shutil.copy(root / "images" / "worker" / ".dockerignore", Path(context) / ".dockerignore")
        shutil.copy(root / "images" / "worker" / "Dockerfile", Path(context) / "Dockerfile")
        docker_client.images.build(path=context, tag=tag, rm=True)
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


def test_worker_image_runs_the_planned_workflow(
    docker_client: Any, worker_image: str, tmp_path: Path
) -> None:
    from parsl.providers import LocalProvider
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    import saga_dfk
    import saga_graphs
    from e2e_tests.pools import AFFINITY_POOL_MODULE, pool_argv, wait_for
    from e2e_tests.runner import collect, parsl_session, submit_workflow, warm_up
    from e2e_tests.witness import Witness
    from e2e_tests.workflow import network_spec, stages
    from parsl_affinity_htex import AffinityHighThroughputExecutor

    workflow = stages()
    warmups = len(NODES) * SLOTS
    with Network() as network:
        gateway = docker_client.networks.get(network.name).attrs["IPAM"]["Config"][0]["Gateway"]
        executor = AffinityHighThroughputExecutor(
            label="containers",
            address=gateway,
            provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
            max_workers_per_node=SLOTS,
            heartbeat_period=1,
            heartbeat_threshold=5,
            encrypted=True,
        )
        config = saga_dfk.SagaConfig(
            executors=[executor],
            network=network_spec(NODES, None, slots=SLOTS),
            cost_model=saga_graphs.DeclaredCostModel(
                task_costs={warmups + i: s.seconds for i, s in enumerate(workflow)},
                task_output_sizes={warmups + i: float(s.out_bytes) for i, s in enumerate(workflow)},
                default=saga_graphs.UniformCostModel(cost=0.1, output_size=0.0),
            ),
            min_nodes=len(NODES),
            strategy="none",
            run_dir=str(tmp_path / "runinfo"),
        )
        containers: dict[str, Any] = {}
        with Witness(gateway) as witness, parsl_session(config, loader=saga_dfk.load) as dfk:
            try:
                for node in NODES:
                    args = pool_argv(executor, node=node, block_id=node, module=AFFINITY_POOL_MODULE)[3:]
                    args = [a if not a.startswith("--logdir=") else "--logdir=/tmp/pool-logs" for a in args]
                    container = (
                        DockerContainer(worker_image)
                        .with_network(network)
                        .with_env("NODE_NAME", node)
                        .with_volume_mapping(str(executor.cert_dir), str(executor.cert_dir), "ro")
                        .with_kwargs(user="0")
                        .with_command(args)
                    )
                    containers[node] = container.start()
                wait_for(
                    lambda: set(executor.connected_nodes()) == set(NODES),
                    timeout=180,
                    what="one containerised pool per node to register",
                )
                warm_up(executor.label, witness, NODES, SLOTS, timeout=120)
                started = time.time()
                futures = submit_workflow(workflow, witness, executor_label=executor.label)
                dfk.execute()
                run = collect(workflow, futures, witness, started=started, timeout=300)
                run.planned = {name: dfk.saga_assignments[f.tid].node for name, f in futures.items()}
                ip_to_node = {}
                for node, container in containers.items():
                    wrapped = container.get_wrapped_container()
                    wrapped.reload()
                    ip_to_node[wrapped.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]] = node
            finally:
                for container in containers.values():
                    container.stop()
    print(f"\n== containers: makespan {run.makespan:.2f} s, proven {run.ran_on(ip_to_node.get)}")
    assert run.mismatches(ip_to_node.get) == {}
    assert len(set(run.ran_on(ip_to_node.get).values())) >= 2
