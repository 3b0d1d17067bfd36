"""Tier 2 driver: runs inside the kind cluster (the saga-e2e-driver Job) and proves placement.

``python -m e2e_tests.kind_driver --namespace=parsl --image=saga-e2e-worker:<tag> --min-nodes=2``

Why in the cluster: worker pods must reach the interchange, and the driver pod's IP (``POD_IP`` from the
downward API) is reachable from every pod on kind's pod network without port-forwards or hostNetwork.

What it does: discover the worker nodes (k8s-topology), start one pinned worker-pool pod per node
(PinnedKubernetesProvider, same image, IfNotPresent), plan the e2e workflow with saga-dfk on the
discovered topology, run it, and prove where each task ran: the task's TCP connection to the witness
comes from its pod's IP, and the API server says which node that pod is bound to. Prints one line
``E2E_RESULT {json}`` and exits 1 if any task ran off its planned node or fewer than ``--min-nodes``
nodes were used.

Encryption: off in this run (``encrypted=False``, which the executor logs as a warning). CurveZMQ needs
the driver's certificate directory inside every worker pod with mode 0700; a Secret volume cannot give
that (the permission check fails), and the pinned provider has no init-container hook to copy it into an
emptyDir. The traffic stays on the throwaway cluster's pod network. A production deployment on an
untrusted network must distribute the certificates (e.g. an init container copying a Secret into an
emptyDir with 0700) and keep ``encrypted=True``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

SLOTS = 2


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m e2e_tests.kind_driver", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--namespace", required=True, help="namespace for worker pods (RBAC is scoped to it)")
    parser.add_argument("--image", required=True, help="worker image, already loaded into every node")
    parser.add_argument(
        "--min-nodes", type=int, default=2, help="fail unless tasks ran on at least this many nodes"
    )
    parser.add_argument(
        "--address", default=os.environ.get("POD_IP"), help="interchange address (default $POD_IP)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole workflow")
    parser.add_argument("--run-dir", default="runinfo", help="Parsl run directory (default ./runinfo)")
    args = parser.parse_args(argv)
    if not args.address:
        parser.error(
            "--address is required when POD_IP is not set (run as the driver Job, see driver-job.yaml)"
        )
    if args.image.endswith(":latest") or ":" not in args.image:
        parser.error(
            f"--image {args.image!r} needs an explicit non-latest tag (kind-loaded images are never pulled)"
        )
    return args


def pod_nodes(core: Any, namespace: str) -> dict[str, str]:
    """Pod IP -> node name for every bound pod in ``namespace`` (the API server's word, not the task's)."""
    return {
        pod.status.pod_ip: pod.spec.node_name
        for pod in core.list_namespaced_pod(namespace).items
        if pod.status and pod.status.pod_ip and pod.spec.node_name
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the workflow in the cluster; print E2E_RESULT; 0 when every task ran where planned."""
    args = _parse(argv)
    from kubernetes import client

    import saga_dfk
    import saga_graphs
    from e2e_tests.runner import collect, parsl_session, submit_workflow, warm_up
    from e2e_tests.witness import Witness
    from e2e_tests.workflow import stages
    from k8s_topology import NodeStoreSidecar, PinnedKubernetesProvider, discover, make_api_client
    from parsl_affinity_htex import AffinityHighThroughputExecutor, DataPlane

    api = make_api_client(None)
    core = client.CoreV1Api(api)
    topology = discover(api)
    nodes = sorted(topology.names)
    log.info("kind.discovered nodes=%s namespace=%s", nodes, args.namespace)
    if len(nodes) < args.min_nodes:
        print(f"E2E_RESULT {json.dumps({'error': f'only {len(nodes)} usable nodes: {nodes}'})}", flush=True)
        return 1

    # type: ignore: k8s_topology exports the provider through a lazy module __getattr__ (typed as object).
    provider = PinnedKubernetesProvider(
        image=args.image,
        nodes=nodes,
        namespace=args.namespace,
        api_client=api,
        image_pull_policy="IfNotPresent",
        init_cpu=0.25,
        max_cpu=1,
        init_mem="256Mi",
        max_mem="1Gi",
        node_store=NodeStoreSidecar(),  # each pod's results stay in a redis-server beside its pool
    )
    executor = AffinityHighThroughputExecutor(
        label="kind",
        address=args.address,
        provider=provider,
        max_workers_per_node=SLOTS,
        heartbeat_period=2,
        heartbeat_threshold=10,
        encrypted=False,  # see the module docstring: no way to give worker pods the 0700 cert dir
        data_plane=DataPlane(),
    )
    workflow = stages()
    # the workflow's stages are declared in it as they are submitted, under their real task ids
    cost_model = saga_graphs.DeclaredCostModel(
        default=saga_graphs.UniformCostModel(cost=0.1, output_size=0.0)
    )
    config = saga_dfk.SagaConfig(
        executors=[executor],
        topology=topology,
        cost_model=cost_model,
        affinity="hard",
        min_nodes=len(nodes),
        node_wait_timeout=300.0,
        strategy="none",
        run_dir=os.path.abspath(args.run_dir),
    )
    with Witness(args.address) as witness, parsl_session(config, loader=saga_dfk.load) as dfk:
        deadline = time.monotonic() + 300
        while set(executor.connected_nodes()) != set(nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pools registered for {sorted(executor.connected_nodes())}, expected {nodes}"
                )
            time.sleep(1)
        warm_up(executor.label, witness, nodes, SLOTS, timeout=300)
        started = time.time()
        futures = submit_workflow(workflow, witness, executor_label=executor.label, costs=cost_model)
        dfk.execute()
        run = collect(workflow, futures, witness, started=started, timeout=args.timeout)
        run.planned = {name: dfk.saga_assignments[f.tid].node for name, f in futures.items()}
        ip_to_node = pod_nodes(core, args.namespace)  # before shutdown deletes the pods
        stores = {name: list(node.stores) for name, node in executor.connected_nodes().items()}
        movement = dfk.run_report()["data_movement"]["totals"]
    proven = run.ran_on(ip_to_node.get)
    mismatches = run.mismatches(ip_to_node.get)
    used = sorted({n for t, n in proven.items() if t in run.results and n})
    result = {
        **run.summary(),
        "proven": {t: proven[t] for t in run.results},
        "nodes_used": used,
        "mismatches": {t: list(v) for t, v in mismatches.items()},
        "node_stores": stores,
        "data_movement": movement,
    }
    print(f"E2E_RESULT {json.dumps(result, sort_keys=True)}", flush=True)
    # every pod advertised its own node store, at its pod IP
    stores_ok = sorted(stores) == nodes and all(
        len(s) == 1 and s[0].split(":")[0] in ip_to_node for s in stores.values()
    )
    ok = not mismatches and len(used) >= args.min_nodes and stores_ok
    log.info(
        "kind.done ok=%s nodes_used=%s mismatches=%s makespan_s=%s",
        ok,
        used,
        len(mismatches),
        round(run.makespan, 2),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
