"""A node store beside each worker-pool pod: the container a data plane keeps a node's results in.

The store is a ``redis-server`` in a second container of the pinned pod. Containers of a pod share its
network namespace, so the worker reaches it on the pod IP like everyone else, and the address it
advertises (``status.podIP`` from the downward API, in ``address_variable``) is one other pods and the
driver can connect to. The store dies with the pod, which is what a node store should do; its own memory
limit keeps a full store from taking the worker down with it (``maxmemory`` with ``noeviction``: a put
into a full store fails the task that made the result, instead of silently dropping another result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_topology.errors import InvalidOverride

__all__ = ["NodeStoreSidecar"]

#: The variable a node-aware worker pool reads its node store's ``host:port`` from (parsl-affinity-htex's
#: ``python -m parsl_affinity_htex.worker_pool`` does, when no ``--node-store`` is given).
STORE_ADDRESS_VARIABLE = "PARSL_NODE_STORE"


@dataclass(frozen=True)
class NodeStoreSidecar:
    """Run a node store (``redis-server``) in every pinned pod, beside the worker pool.

    ``image``: an image with ``redis-server`` on PATH (None: the worker's own image; the project's worker
    image has it). ``port``: the store's port on the pod IP. ``max_memory``: redis ``maxmemory``;
    ``memory_limit`` / ``cpu_limit``: the container's limits (requests are a quarter of them).
    """

    image: str | None = None
    port: int = 6379
    max_memory: str = "256mb"
    memory_limit: str = "384Mi"
    cpu_limit: str = "500m"
    address_variable: str = STORE_ADDRESS_VARIABLE

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise InvalidOverride(f"NodeStoreSidecar.port = {self.port!r} must be a TCP port (1-65535)")
        for name in ("max_memory", "memory_limit", "cpu_limit", "address_variable"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidOverride(f"NodeStoreSidecar.{name} = {value!r} must be a non-empty string")

    def container(self, worker_image: str) -> Any:
        """The sidecar's V1Container."""
        from kubernetes import client

        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        return client.V1Container(
            name="node-store",
            image=self.image or worker_image,
            command=["redis-server"],
            args=[
                "--port",
                str(self.port),
                "--bind",
                "0.0.0.0",
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory",
                self.max_memory,
                "--maxmemory-policy",
                "noeviction",
            ],  # fmt: skip
            ports=[client.V1ContainerPort(name="node-store", container_port=self.port)],
            readiness_probe=client.V1Probe(
                _exec=client.V1ExecAction(command=["redis-cli", "-p", str(self.port), "ping"]),
                period_seconds=2,
            ),
            resources=client.V1ResourceRequirements(limits=limits, requests=_quarter(limits)),
        )

    def worker_env(self) -> list[Any]:
        """The worker container's variables: the pod IP, and the store's address built from it."""
        from kubernetes import client

        return [
            client.V1EnvVar(
                name="POD_IP",
                value_from=client.V1EnvVarSource(
                    field_ref=client.V1ObjectFieldSelector(field_path="status.podIP")
                ),
            ),
            client.V1EnvVar(name=self.address_variable, value=f"$(POD_IP):{self.port}"),
        ]


def _quarter(limits: dict[str, str]) -> dict[str, str]:
    """A quarter of each limit as the request (cpu in millicores, memory in Mi), so the pod schedules
    on a busy node while the limit bounds it."""
    from kubernetes.utils import parse_quantity

    cpu = parse_quantity(limits["cpu"])
    memory = parse_quantity(limits["memory"])
    return {"cpu": f"{max(1, int(cpu * 1000 / 4))}m", "memory": f"{max(1, int(memory / 4 / 2**20))}Mi"}
