"""Peer data-plane benchmark: SAGA-planned placement with node-to-node data vs stock HTEx vs Dask distributed.

Why: plain HTEx sends every result up to the driver and every argument back down, so the driver (and any slow
link) carries every byte twice and the plan must fold the driver trip into every task's cost
(bench_makespan.py). With parsl-affinity-htex's data plane (``DataPlane``) a big result stays in the node store
of the node that made it and the child's worker fetches it directly, as Dask distributed moves data worker to
worker. This benchmark shows what that buys on the same hosts and DAGs, and measures it against Dask, the
usual answer to "move the data between the workers".

What runs, on the same 4 hosts (bench_makespan's NODES: node-a 3 slots, node-b 2, node-c 1, node-d 4 slots
behind a ``tc tbf`` 20 Mbit/s link), three DAGs, each under five placements:

* DAGs: bench_makespan's data-heavy and compute-skewed DAGs (same builders and sizes), and a generated
  wfcommons-style Epigenomics DAG (102 tasks quick, 202 full): per lane ``fastqSplit`` (1 MiB out) ->
  per chunk the chain ``filterContams -> sol2sanger -> fast2bfq -> map`` (256-512 KiB out each; the map step
  is the long one) -> ``mapMerge`` per lane -> ``maqIndex`` -> ``pileup``. Durations are seeded and scaled
  down to ~0.1-1 s. Every child receives the whole output of each parent (in the real workflow a chunk
  reads its own split file), so every edge moves real bytes of the declared size.
* (a) stock: the AffinityHighThroughputExecutor without a data plane, tasks opted out of planning
  (the interchange's shared FIFO queue: upstream HTEx's dispatch), as in bench_makespan.
* (b) saga-dfk (HEFT) without the data plane: bench_makespan's SAGA run and model (driver trips folded into
  task costs, pair bandwidth from the calibrated driver path).
* (c) saga-dfk (HEFT) with the data plane (``DataPlane(threshold_bytes=64 KiB)``): a new executor whose pools
  each start a node store (``--start-node-store <node IP>``). The model given to SAGA is node to node, no
  driver-trip folding: declared cost = body seconds; bandwidth between two nodes = the node-to-node fetch
  throughput measured just before the runs (a task on node X fetching a 4 MiB result of a task on node Y)
  or, for pairs with the slow node, the tbf rate divided by that node's slots; the same node is free.
  Why divided: SAGA's model has no link contention, and the slow node's workers fetch at once (four of them
  each get a quarter of its link). With the plain tbf rate (``--per-transfer-link``) HEFT puts heavy tasks
  on node-d's 4 slots and their concurrent fetches run up to 7x longer than planned (data-heavy
  actual/planned 1.73 instead of 1.04, measured).
* (d) Dask distributed: ``dask scheduler`` on the driver side (the bridge address) and one
  ``dask worker --nthreads <slots> --nworkers 1 --nanny`` per host (inside its namespace). The same task
  bodies (bench_makespan.bench_task: sleep + real bytes) are ``client.submit``-ted in the same order with
  their parents' futures as arguments, so Dask moves the data worker to worker. Durations are unknown to
  Dask at the start (all tasks of a run share one fresh key prefix, so Dask learns their average while the
  run goes, as on a first run); comm compression is off (the default here; the payloads are zeros).
* (d') Dask told the durations where it allows: every task gets its own key prefix and
  ``distributed.scheduler.default-task-durations`` (set on the scheduler before the run) holds its body
  seconds; ``priority`` = its upward rank (longest path of body seconds to the end), i.e. HEFT's order.

Without root (or with ``--local``) the same nodes run on loopback -- a LocalVirtualCluster for the Parsl runs
and a Scheduler plus 4 worker/nanny processes with the same uneven thread counts for Dask -- without any
slow link; the output says which tier ran.

Figures: "wall" (the makespan) = driver clock from the first submit to the last result, planning included;
"span" = first task start to last task end measured by the workers; "actual/plan" = span / planned span
(b, c); makespan ratios to (a) and to (d) (and to (d')). Bytes through the driver: for the Parsl runs the
interchange's byte counters (``affinity_stats().bytes_from_pools + bytes_to_pools`` deltas: results and
tasks, heartbeats included); for Dask the bytes the scheduler process and the client process read and wrote
(``/proc/<pid>/io`` rchar + wchar deltas: every socket and file; an upper bound on what they relayed, since
the scheduler relays no task data by construction). Peer bytes: (c) the bytes workers fetched from another
node's store (``RunRecord.inputs``), (d) the workers' ``transfer_outgoing_bytes_total`` deltas. On the netns
tier "bridge" = bytes through the bridge's own interface (the driver host's side of the network, for every
system alike). (c) checks inputs from the run records (fetched keys and byte counts) and never resolves a
result proxy at the driver during the measurement; (d) checks them by a small task per result that returns
the result without its payload (run after the timing, on the worker that holds the data).

Targets: data-heavy (c)/(a) <= 0.35 and (c)/(d) <= 0.7, (c) actual/planned within +-10 %, (c)'s driver
bytes <= 5 % of (a)'s; compute-skewed (c)/(d) <= 0.7. The (d) targets are judged against untold Dask; the
ratio to (d') is printed beside it.

    ./pants run benchmarks/bench_peers.py                 # full, ~8-10 min
    ./pants run benchmarks/bench_peers.py -- --quick      # smaller DAGs, ~3 min
    ./pants run benchmarks/bench_peers.py -- --quick --per-transfer-link   # (c) modelled without contention
    PYTHONPATH=packages/saga-dfk/src:packages/saga-graphs/src:packages/parsl-affinity-htex/src:support:benchmarks \\
        python benchmarks/bench_peers.py [--quick] [--local] [--per-transfer-link] [--dump PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parsl
from _common import format_table, machine_info, quiet_logging
from bench_makespan import (
    FAST_BPS,
    FREE_BPS,
    LABEL,
    MIB,
    NODES,
    OPT_OUT_KEY,
    RUN_TIMEOUT,
    SLOW_BPS,
    SLOW_MBIT,
    SLOW_NODE,
    SMALL,
    PathModel,
    RunOutcome,
    _measured_span,
    bench_task,
    calibrate,
    compute_skewed,
    data_heavy,
    run_workflow,
    warm_up,
)
from parsl import python_app
from parsl.providers import LocalProvider

import saga_dfk
import saga_graphs
from parsl_affinity_htex import AffinityHighThroughputExecutor, DataPlane, LocalVirtualCluster
from repo_support.netns import NetnsCluster, measure_upload, netns_cluster, unavailable_reason
from repo_support.pools import AFFINITY_POOL_MODULE, child_env, pool_argv
from repo_support.stages import Stage
from repo_support.waiting import wait_until

THRESHOLD = 64 * 1024  # DataPlane.threshold_bytes: serialized results of this size or more stay on their node
KIB = 1024
NODE_ENV = "PARSL_AFFINITY_HTEX_NODE"  # what bench_task's current_node() reads; set for the Dask workers too
RUNS = ("a", "b", "c", "d", "d_told")
RUN_NAMES = {
    "a": "(a) stock",
    "b": "(b) SAGA",
    "c": "(c) SAGA+peers",
    "d": "(d) Dask",
    "d_told": "(d') Dask told",
}
TARGET_C_OVER_A = 0.35
TARGET_C_OVER_D = 0.7
TARGET_FIDELITY = 0.10
TARGET_DRIVER_SHARE = 0.05


# ---------------------------------------------------------------------------------------------- workflow
def epigenomics(lanes: int, chunks: int, seed: int = 8) -> list[Stage]:
    """A wfcommons-style Epigenomics DAG: lanes x (fastqSplit -> chunks x 4-step chain -> mapMerge), then
    maqIndex -> pileup. ``lanes * (4 * chunks + 2) + 2`` tasks."""
    rng = random.Random(seed)

    def u(lo: float, hi: float) -> float:
        return round(rng.uniform(lo, hi), 3)

    out: list[Stage] = []
    merges = []
    for lane in range(lanes):
        split = f"fastqSplit{lane}"
        out.append(Stage(split, u(0.25, 0.35), MIB))
        maps = []
        for c in range(chunks):
            f, s, b, m = (f"{step}{lane}_{c}" for step in ("filterContams", "sol2sanger", "fast2bfq", "map"))
            out.append(Stage(f, u(0.15, 0.25), 512 * KIB, (split,)))
            out.append(Stage(s, u(0.08, 0.12), 512 * KIB, (f,)))
            out.append(Stage(b, u(0.08, 0.12), 256 * KIB, (s,)))
            out.append(Stage(m, u(0.6, 1.0), 512 * KIB, (b,)))
            maps.append(m)
        merges.append(f"mapMerge{lane}")
        out.append(Stage(merges[-1], u(0.25, 0.35), MIB, tuple(maps)))
    out.append(Stage("maqIndex", u(0.25, 0.35), MIB, tuple(merges)))
    out.append(Stage("pileup", u(0.25, 0.35), SMALL, ("maqIndex",)))
    return out


def upward_rank(workflow: Sequence[Stage]) -> dict[str, float]:
    """Body seconds on the longest path from each task to an exit (HEFT's order without transfers)."""
    children: dict[str, list[str]] = {s.name: [] for s in workflow}
    for s in workflow:
        for p in s.parents:
            children[p].append(s.name)
    by_name = {s.name: s for s in workflow}
    rank: dict[str, float] = {}
    for s in reversed(workflow):  # submission order is topological
        rank[s.name] = by_name[s.name].seconds + max((rank[c] for c in children[s.name]), default=0.0)
    return rank


# ---------------------------------------------------------------------------------------------- model (c)
@dataclass(frozen=True)
class PeerModel(PathModel):
    """The model SAGA gets with the data plane: no driver trips; pairs at node-to-node throughput.

    ``fast_bps``: the measured node-to-node fetch throughput between unshaped nodes; ``node_bps``: per node,
    what its pairs get (the tbf rate for the slow node). Same node: free.
    """

    slow_node: str | None = None

    def task_cost(self, stage: Stage, in_bytes: int) -> float:
        return stage.seconds

    def network(self, slots: Mapping[str, int]) -> saga_graphs.Network:
        network = saga_graphs.Network(default_bandwidth=FREE_BPS)
        for n, s in slots.items():
            network.add_node(n, slots=s)
        for a, b in itertools.combinations(slots, 2):
            network.set_bandwidth(a, b, min(self.node_bps[a], self.node_bps[b]))
        return network


def measure_peers(
    slow_node: str | None, *, shared_slow_link: bool = True
) -> tuple[PeerModel, dict[str, float]]:
    """Node-to-node fetch throughput over the data plane: a pinned task on X returns N bytes (kept in X's
    store), a pinned child on Y fetches them; bytes / fetch seconds from the child's RunRecord.

    ``shared_slow_link`` (the default): the slow node's pairs get the tbf rate divided by its slots, as when
    all its workers fetch at once (SAGA's model has no link contention); False: the plain tbf rate.
    """
    app = python_app(bench_task, executors=[LABEL])
    pairs = [("node-a", "node-a"), ("node-a", "node-b"), ("node-b", "node-c"), ("node-c", "node-a")]
    if slow_node:
        pairs.append(("node-a", slow_node))
    measured: dict[str, float] = {}
    for src, dst in pairs:
        slow = slow_node in (src, dst)
        nbytes = 2 * MIB if slow else 4 * MIB
        best = 0.0
        for _ in range(1 if slow else 2):
            spec = {"affinity": "hard", OPT_OUT_KEY: False}
            parent = app("peer-src", 0.0, nbytes, parsl_resource_specification={**spec, "node": src})
            child = app("peer-dst", 0.0, 0, parent, parsl_resource_specification={**spec, "node": dst})
            child.result(timeout=120)
            record = child.task_record["exec_fu"].run_record
            if not record.inputs or record.inputs[0].nbytes < nbytes:
                raise AssertionError(f"{src}->{dst}: the child fetched {record.inputs} (expected {nbytes} B)")
            fetch = record.inputs[0]
            best = max(best, fetch.nbytes / max(fetch.seconds, 1e-6))
            del parent, child
        measured[f"{src}->{dst}"] = round(best)
    fast = sorted(
        v for k, v in measured.items() if not (slow_node and slow_node in k) and k != "node-a->node-a"
    )
    fast_bps = float(fast[len(fast) // 2])
    slow_bps = SLOW_BPS / NODES[slow_node] if shared_slow_link and slow_node else SLOW_BPS
    node_bps = {n: (slow_bps if n == slow_node else fast_bps) for n in NODES}
    return PeerModel(fast_bps=fast_bps, node_bps=node_bps, slow_node=slow_node), measured


# ---------------------------------------------------------------------------------------------- hosts
@dataclass
class Hosts:
    """The 4 hosts: network namespaces on a bridge (``cluster``) or loopback (None)."""

    name: str
    cluster: NetnsCluster | None
    slow_node: str | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def driver_address(self) -> str:
        return self.cluster.driver_address if self.cluster else "127.0.0.1"

    def address(self, node: str) -> str:
        return self.cluster.node(node).address if self.cluster else "127.0.0.1"

    def bridge_bytes(self) -> int | None:
        """rx + tx bytes of the bridge's own interface (traffic to/from the driver host), None on loopback."""
        if self.cluster is None:
            return None
        stats = Path("/sys/class/net") / self.cluster.bridge / "statistics"
        return int((stats / "rx_bytes").read_text()) + int((stats / "tx_bytes").read_text())

    def spawn(
        self, node: str, argv: Sequence[str], env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``node`` (inside its namespace) in its own process group."""
        if self.cluster is not None:
            return self.cluster.spawn(node, argv, env=env, log_path=log)
        with open(log, "ab") as out:
            return subprocess.Popen(
                list(argv), env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )


@contextlib.contextmanager
def hosts_for(reason: str | None) -> Iterator[Hosts]:
    if reason:
        yield Hosts(name="local", cluster=None, slow_node=None, info={"why_not_netns": reason})
        return
    with netns_cluster(list(NODES)) as cluster:
        cluster.shape(SLOW_NODE, SLOW_MBIT)
        measured = {
            node: round(measure_upload(cluster, node, nbytes=2 * MIB) * 8 / 1e6, 1)
            for node in (SLOW_NODE, "node-a")
        }
        yield Hosts(
            name="netns",
            cluster=cluster,
            slow_node=SLOW_NODE,
            info={
                "tbf_rate_mbit": SLOW_MBIT,
                "measured_upload_mbit": measured,
                "driver_address": cluster.driver_address,
            },
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process group we started (its leader's pid), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------------------------------------- Parsl runs
@dataclass
class Phase:
    """One executor (with or without the data plane) under one saga-dfk kernel."""

    dfk: saga_dfk.SagaDataFlowKernel
    cost_model: saga_graphs.DeclaredCostModel
    executor: AffinityHighThroughputExecutor

    def driver_bytes(self) -> int:
        stats = self.executor.affinity_stats()
        return stats.bytes_from_pools + stats.bytes_to_pools


@contextlib.contextmanager
def parsl_phase(hosts: Hosts, run_dir: Path, data_plane: DataPlane | None) -> Iterator[Phase]:
    """Executor, pools (one per host; with a node store when ``data_plane``), kernel; all torn down after."""
    run_dir.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"heartbeat_period": 2, "heartbeat_threshold": 20, "data_plane": data_plane}
    if hosts.cluster is None:
        executor = LocalVirtualCluster(NODES).executor(label=LABEL, **common)
    else:
        executor = AffinityHighThroughputExecutor(
            label=LABEL,
            address=hosts.driver_address,
            provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
            max_workers_per_node=max(NODES.values()),
            encrypted=True,
            **common,
        )
    nominal = PathModel(
        fast_bps=FAST_BPS, node_bps={n: SLOW_BPS if n == hosts.slow_node else FAST_BPS for n in NODES}
    )
    cost_model = saga_graphs.DeclaredCostModel(default=0.1)
    config = saga_dfk.SagaConfig(
        executors=[executor],
        saga_scheduler="HEFT",
        cost_model=cost_model,
        network=nominal.network(NODES).to_spec(),  # replaced by the measured model before the first plan
        affinity="hard",
        min_nodes=len(NODES),
        strategy="none",
        run_dir=str(run_dir),
    )
    dfk = saga_dfk.load(config)
    pools: list[subprocess.Popen[bytes]] = []
    try:
        began = time.monotonic()
        if hosts.cluster is not None:
            for node, slots in NODES.items():
                argv = pool_argv(executor, node=node, block_id=f"{node}-0", module=AFFINITY_POOL_MODULE)
                # argparse keeps the last --max_workers_per_node; PARSL_CORES stops the pool capping at 2 cores
                argv += [f"--max_workers_per_node={slots}"]
                if data_plane is not None:
                    argv += ["--start-node-store", hosts.address(node)]  # bound to the node's IP: peers fetch
                env = child_env({"PARSL_CORES": str(slots)})
                pools.append(hosts.spawn(node, argv, env, run_dir / f"pool-{node}.log"))
        wait_until(
            lambda: {n: c.slots for n, c in executor.connected_nodes().items()} == NODES,
            timeout=120,
            what=f"pools {NODES} to register",
            period=0.5,
        )
        if data_plane is not None:
            missing = [n for n, c in executor.connected_nodes().items() if not c.stores]
            if missing:
                raise RuntimeError(f"pools of {missing} registered without a node store")
        print(
            f"  pools registered after {time.monotonic() - began:.1f} s"
            + (" (with node stores)" if data_plane else ""),
            flush=True,
        )
        warm_up(NODES)
        yield Phase(dfk=dfk, cost_model=cost_model, executor=executor)
    finally:
        dfk.cleanup()
        parsl.clear()
        for proc in pools:
            stop(proc)


@dataclass
class Figures:
    """One run's figures (the table's row)."""

    wall: float
    span: float
    planned_span: float | None = None
    driver_bytes: int | None = None
    peer_bytes: int | None = None
    bridge_bytes: int | None = None
    ran_on: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # --dump: per task, actual (and planned)


def run_parsl(
    hosts: Hosts, phase: Phase, model: PathModel, workflow: Sequence[Stage], *, planned: bool
) -> Figures:
    """bench_makespan.run_workflow (a, b), with the driver and bridge byte counters around it."""
    phase.dfk.set_network(model.network(NODES))
    d0, b0 = phase.driver_bytes(), hosts.bridge_bytes()
    run: RunOutcome = run_workflow(phase.dfk, phase.cost_model, model, workflow, planned=planned)
    d1, b1 = phase.driver_bytes(), hosts.bridge_bytes()
    return Figures(
        wall=run.wall,
        span=run.span,
        planned_span=run.planned_span,
        driver_bytes=d1 - d0,
        peer_bytes=0,
        bridge_bytes=None if b0 is None or b1 is None else b1 - b0,
        ran_on=run.ran_on,
        extra={"on_planned_node": _on_plan(run.planned_on, run.ran_on)},
        tasks=run.tasks,
    )


def _on_plan(planned_on: Mapping[str, str] | None, ran_on: Mapping[str, str]) -> float | None:
    if not planned_on:
        return None
    return round(sum(1 for t, n in planned_on.items() if ran_on.get(t) == n) / len(planned_on), 4)


def run_data_plane(hosts: Hosts, phase: Phase, model: PeerModel, workflow: Sequence[Stage]) -> Figures:
    """(c): submit, declare body costs, plan; check inputs from the run records, never resolving a proxy.

    Not bench_makespan.run_workflow: its check reads every result at the driver, which would pull each
    stored result through the driver (see the report).
    """
    dfk = phase.dfk
    dfk.set_network(model.network(NODES))
    app = python_app(bench_task, executors=[LABEL])
    futures: dict[str, Any] = {}
    done_at: dict[str, float] = {}
    d0, b0 = phase.driver_bytes(), hosts.bridge_bytes()
    started = time.time()
    for s in workflow:
        fut = app(
            s.name, s.seconds, s.out_bytes, *[futures[p] for p in s.parents], parsl_resource_specification={}
        )
        fut.add_done_callback(lambda _f, name=s.name: done_at.__setitem__(name, time.time()))
        futures[s.name] = fut
    for name, (cost, size) in model.declared(workflow).items():
        phase.cost_model.declare(futures[name].tid, cost=cost, output_size=size)
    dfk.execute()
    deadline = time.monotonic() + RUN_TIMEOUT
    for fut in futures.values():
        fut.exception(timeout=max(1.0, deadline - time.monotonic()))  # waits; never touches the value
    wall = max(done_at.get(n, time.time()) for n in futures) - started
    d1, b1 = phase.driver_bytes(), hosts.bridge_bytes()
    for name, fut in futures.items():
        if fut.exception() is not None:
            raise RuntimeError(f"task {name} failed") from fut.exception()
    records = {n: f.task_record["exec_fu"].run_record for n, f in futures.items()}
    by_name = {s.name: s for s in workflow}
    for name, rec in records.items():
        stored = [p for p in by_name[name].parents if records[p].output_store is not None]
        want = {records[p].output_key: by_name[p].out_bytes for p in stored}
        got = {i.key: i.nbytes for i in rec.inputs}
        if set(got) != set(want) or any(got[k] < want[k] for k in want):
            raise AssertionError(f"task {name} fetched {got}, expected at least {want}")
        if rec.output_store is None:  # a plain value (below the threshold): read it
            result = futures[name].result()
            expected = [by_name[p].out_bytes for p in by_name[name].parents]
            if result["input_sizes"] != expected:
                raise AssertionError(
                    f"task {name} got inputs of {result['input_sizes']}, expected {expected}"
                )
    plan = {name: dfk.saga_assignments[fut.tid] for name, fut in futures.items()}
    first = min(a.start for a in plan.values())
    tasks = {
        n: {
            "node": r.node,
            "start": r.start - started,
            "end": r.end - started,
            "fetched": [(i.nbytes, round(i.seconds, 4), i.local) for i in r.inputs],
            "planned": {"node": plan[n].node, "start": plan[n].start - first, "end": plan[n].end - first},
        }
        for n, r in records.items()
    }
    big_via_driver = [
        n for n, r in records.items() if (r.output_bytes or 0) >= THRESHOLD and r.output_store is None
    ]
    figures = Figures(
        wall=wall,
        span=_measured_span(list(records.values())),
        planned_span=saga_graphs.span(plan.values()),
        driver_bytes=d1 - d0,
        peer_bytes=sum(i.nbytes for r in records.values() for i in r.inputs if not i.local),
        bridge_bytes=None if b0 is None or b1 is None else b1 - b0,
        ran_on={n: r.node for n, r in records.items()},
        tasks=tasks,
        extra={
            "on_planned_node": _on_plan(
                {n: a.node for n, a in plan.items()}, {n: r.node for n, r in records.items()}
            ),
            "local_fetch_bytes": sum(i.nbytes for r in records.values() for i in r.inputs if i.local),
            "big_results_via_driver": len(big_via_driver),
            "stored_results": sum(1 for r in records.values() if r.output_store is not None),
            **_profile(workflow, records),
        },
    )
    del futures, records, plan
    gc.collect()  # the proxies go: their stored results are evicted
    return figures


def _profile(workflow: Sequence[Stage], records: Mapping[str, Any]) -> dict[str, float]:
    """Where time goes that the model does not see: the gap from a task's last parent's end to its start
    (result to the driver, dependency resolution, dispatch: 0 in the model) and a task's run time beyond
    its body seconds (fetching and decoding its inputs, decoding the call: the model has only the
    inter-node transfer there)."""

    def quantile(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(q * len(values)))], 4) if values else 0.0

    gaps = [records[s.name].start - max(records[p].end for p in s.parents) for s in workflow if s.parents]
    over = [records[s.name].duration - s.seconds for s in workflow]
    return {
        "dispatch_gap_median_s": quantile(gaps, 0.5),
        "dispatch_gap_p90_s": quantile(gaps, 0.9),
        "in_task_overhead_median_s": quantile(over, 0.5),
        "in_task_overhead_p90_s": quantile(over, 0.9),
    }


# ---------------------------------------------------------------------------------------------- Dask runs
def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """A result without its payload (runs on the worker that holds it: the check moves no payload)."""
    return {k: v for k, v in result.items() if k != "payload"}


def _outgoing_bytes(dask_worker: Any) -> int:
    return int(dask_worker.transfer_outgoing_bytes_total)


def _set_durations(durations: dict[str, str]) -> None:
    import dask

    dask.config.set({"distributed.scheduler.default-task-durations": durations})


def _import_bodies() -> None:
    import bench_makespan  # noqa: F401  # so the first task does not pay the import


def proc_io(pid: int | str) -> int:
    """rchar + wchar of a process: every byte it read or wrote through read/write calls (sockets, files)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["rchar"]) + int(fields["wchar"])


@dataclass
class DaskSide:
    client: Any
    scheduler_pid: int


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def dask_phase(hosts: Hosts, work_dir: Path) -> Iterator[DaskSide]:
    """``dask scheduler`` on the driver side, one ``dask worker`` (nanny, --nthreads slots) per host."""
    from distributed import Client

    work_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(
        {"DASK_DISTRIBUTED__COMM__COMPRESSION": "False", "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "warning"}
    )
    address = f"tcp://{hosts.driver_address}:{_free_port(hosts.driver_address)}"
    procs: list[subprocess.Popen[bytes]] = []
    client = None
    try:
        with open(work_dir / "scheduler.log", "ab") as out:
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "dask", "scheduler", "--host", hosts.driver_address,
                 "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        procs.append(scheduler)
        for node, slots in NODES.items():
            argv = [
                sys.executable, "-m", "dask", "worker", address, "--nthreads", str(slots), "--nworkers", "1",
                "--nanny", "--name", node, "--host", hosts.address(node), "--no-dashboard",
                "--memory-limit", "0", "--local-directory", str(work_dir / node),
            ]  # fmt: skip
            procs.append(hosts.spawn(node, argv, {**env, NODE_ENV: node}, work_dir / f"worker-{node}.log"))
        began = time.monotonic()
        client = Client(address, timeout=60)
        client.wait_for_workers(len(NODES), timeout=120)
        threads = {w["name"]: w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
        if threads != NODES:
            raise RuntimeError(f"Dask workers {threads}, expected {NODES}")
        print(f"  Dask workers registered after {time.monotonic() - began:.1f} s: {threads}", flush=True)
        client.run(_import_bodies)
        futs = [
            client.submit(bench_task, f"warm{k}", 0.3, 0, key=f"warm-{k}")
            for k in range(2 * sum(NODES.values()))
        ]
        client.gather(futs)
        del futs
        yield DaskSide(client=client, scheduler_pid=scheduler.pid)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=10)
        for proc in reversed(procs):
            stop(proc)


def run_dask(hosts: Hosts, dask: DaskSide, workflow: Sequence[Stage], *, tag: str, told: bool) -> Figures:
    """Submit the workflow to Dask in the same order, parents' futures as arguments; wait; measure; check."""
    from distributed import wait

    client = dask.client
    by_name = {s.name: s for s in workflow}
    rank = upward_rank(workflow)
    if told:
        client.run_on_scheduler(_set_durations, {f"{tag}_{s.name}": f"{s.seconds}s" for s in workflow})

    def outgoing() -> int:
        return sum(client.run(_outgoing_bytes).values())

    o0, b0 = outgoing(), hosts.bridge_bytes()
    io0 = proc_io(dask.scheduler_pid) + proc_io("self")
    futures: dict[str, Any] = {}
    started = time.time()
    for i, s in enumerate(workflow):
        key = f"{tag}_{s.name}-0" if told else f"{tag}-{i}"  # prefix: per task (told) or one per run
        futures[s.name] = client.submit(
            bench_task, s.name, s.seconds, s.out_bytes, *[futures[p] for p in s.parents],
            key=key, priority=round(rank[s.name] * 1000) if told else 0,
        )  # fmt: skip
    wait(list(futures.values()), timeout=RUN_TIMEOUT)
    wall = time.time() - started
    io1 = proc_io(dask.scheduler_pid) + proc_io("self")
    o1, b1 = outgoing(), hosts.bridge_bytes()
    for name, fut in futures.items():
        if fut.status != "finished":
            raise RuntimeError(f"Dask task {name}: {fut.status} {fut.exception()!r}")
    names = list(futures)
    stripped = client.gather(
        client.map(_strip, [futures[n] for n in names], key=[f"strip-{tag}-{i}" for i in range(len(names))])
    )
    results = dict(zip(names, stripped, strict=True))
    for name, r in results.items():
        expected = [by_name[p].out_bytes for p in by_name[name].parents]
        if r["input_sizes"] != expected:
            raise AssertionError(f"Dask task {name} got inputs of {r['input_sizes']}, expected {expected}")
    client.cancel(list(futures.values()))
    del futures
    return Figures(
        wall=wall,
        span=max(r["end"] for r in results.values()) - min(r["start"] for r in results.values()),
        driver_bytes=io1 - io0,
        peer_bytes=o1 - o0,
        bridge_bytes=None if b0 is None or b1 is None else b1 - b0,
        ran_on={n: r["node"] for n, r in results.items()},
        tasks={
            n: {"node": r["node"], "start": r["start"] - started, "end": r["end"] - started}
            for n, r in results.items()
        },
    )


# ---------------------------------------------------------------------------------------------- report
def heavy_on_slow(workflow: Sequence[Stage], ran_on: Mapping[str, str], slow_node: str | None) -> str:
    """How many tasks that read or write a result >= THRESHOLD ran on the slow node."""
    if slow_node is None:
        return "-"
    big = {s.name for s in workflow if s.out_bytes >= THRESHOLD}
    heavy = big | {s.name for s in workflow if any(p in big for p in s.parents)}
    return f"{sum(1 for t in heavy if ran_on.get(t) == slow_node)}/{len(heavy)}"


def summarize(
    workflow: Sequence[Stage], runs: Mapping[str, Figures], slow_node: str | None
) -> dict[str, Any]:
    def ratio(x: float | None, y: float | None) -> float | None:
        return None if x is None or not y else round(x / y, 4)

    out: dict[str, Any] = {"tasks": len(workflow)}
    for key, f in runs.items():
        out[key] = {
            "wall_s": round(f.wall, 3),
            "span_s": round(f.span, 3),
            "planned_span_s": None if f.planned_span is None else round(f.planned_span, 3),
            "actual_over_planned": ratio(f.span, f.planned_span),
            "over_a": ratio(f.wall, runs["a"].wall),
            "over_d": ratio(f.wall, runs["d"].wall),
            "over_d_told": ratio(f.wall, runs["d_told"].wall),
            "driver_bytes": f.driver_bytes,
            "driver_bytes_over_a": ratio(f.driver_bytes, runs["a"].driver_bytes),
            "peer_bytes": f.peer_bytes,
            "bridge_bytes": f.bridge_bytes,
            "heavy_on_slow_node": heavy_on_slow(workflow, f.ran_on, slow_node),
            **f.extra,
        }
    return out


def check_targets(results: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []

    def add(what: str, value: float | None, ok: bool) -> None:
        targets.append({"target": what, "value": value, "met": bool(ok)})

    dh = results["data_heavy"]["c"]
    add(f"data_heavy (c)/(a) <= {TARGET_C_OVER_A}", dh["over_a"], dh["over_a"] <= TARGET_C_OVER_A)
    add(f"data_heavy (c)/(d) <= {TARGET_C_OVER_D}", dh["over_d"], dh["over_d"] <= TARGET_C_OVER_D)
    fid = dh["actual_over_planned"]
    add(f"data_heavy (c) actual/planned within +-{TARGET_FIDELITY:.0%}", fid, abs(fid - 1) <= TARGET_FIDELITY)
    share = dh["driver_bytes_over_a"]
    add(
        f"data_heavy (c) driver bytes <= {TARGET_DRIVER_SHARE:.0%} of (a)'s",
        share,
        share <= TARGET_DRIVER_SHARE,
    )
    cs = results["compute_skewed"]["c"]
    add(f"compute_skewed (c)/(d) <= {TARGET_C_OVER_D}", cs["over_d"], cs["over_d"] <= TARGET_C_OVER_D)
    return targets


def print_table(results: Mapping[str, dict[str, Any]]) -> None:
    def mb(v: int | None) -> float | None:
        return None if v is None else round(v / 1e6, 2)

    headers = [
        "DAG", "run", "tasks", "wall s", "span s", "planned", "act/plan", "/(a)", "/(d)", "/(d')",
        "driver MB", "drv/(a)", "peer MB", "bridge MB", "heavy on slow",
    ]  # fmt: skip
    rows = []
    for dag, r in results.items():
        for key in RUNS:
            f = r[key]
            rows.append([
                dag, RUN_NAMES[key], r["tasks"], f["wall_s"], f["span_s"], f["planned_span_s"],
                f["actual_over_planned"], f["over_a"], f["over_d"], f["over_d_told"], mb(f["driver_bytes"]),
                f["driver_bytes_over_a"], mb(f["peer_bytes"]), mb(f["bridge_bytes"]), f["heavy_on_slow_node"],
            ])  # fmt: skip
    print(format_table(headers, rows))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller DAGs (~3 min)")
    parser.add_argument("--local", action="store_true", help="use loopback hosts even as root")
    parser.add_argument(
        "--per-transfer-link",
        action="store_true",
        help="(c)'s model gives the slow node's pairs the plain tbf rate (default: the rate / its slots)",
    )
    parser.add_argument(
        "--dump", metavar="PATH", help="write every task's placement and times (and plan) as JSON"
    )
    args = parser.parse_args(argv)
    quiet_logging()

    if args.quick:
        workflows = {
            "data_heavy": data_heavy(layers=4, width=6, lights=16),
            "compute_skewed": compute_skewed(short=64, chains=2, stages=3, long_cost=1.5),
            "epigenomics": epigenomics(lanes=2, chunks=12),
        }
    else:
        workflows = {
            "data_heavy": data_heavy(layers=10, width=6, lights=48),
            "compute_skewed": compute_skewed(short=160, chains=2, stages=4, long_cost=3.0),
            "epigenomics": epigenomics(lanes=4, chunks=12),
        }
    runs: dict[str, dict[str, Figures]] = {name: {} for name in workflows}
    reason = "--local given" if args.local else unavailable_reason()
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp, hosts_for(reason) as hosts:
        if hosts.name == "local":
            print(
                f"NOTE: network namespaces unavailable ({reason}); running on loopback "
                "(NO slow link, no real network between the hosts)",
                flush=True,
            )
        print("phase 1: HTEx without the data plane: (a) stock, (b) SAGA", flush=True)
        with parsl_phase(hosts, Path(tmp) / "htex", None) as phase:
            path_model, calibrated = calibrate(NODES, hosts.slow_node)
            hosts.info["calibrated_driver_path_bytes_per_s"] = calibrated
            print(f"  driver-path throughput (bytes/s): {calibrated}", flush=True)
            for name, workflow in workflows.items():
                for key, planned in (("a", False), ("b", True)):
                    f = runs[name][key] = run_parsl(hosts, phase, path_model, workflow, planned=planned)
                    print(
                        f"  {name:15s} {RUN_NAMES[key]:15s} wall {f.wall:6.2f} s, span {f.span:6.2f} s",
                        flush=True,
                    )
        print("phase 2: HTEx with the data plane: (c) SAGA + node-to-node data", flush=True)
        with parsl_phase(hosts, Path(tmp) / "peers", DataPlane(threshold_bytes=THRESHOLD)) as phase:
            peer_model, fetched = measure_peers(hosts.slow_node, shared_slow_link=not args.per_transfer_link)
            hosts.info["node_to_node_fetch_bytes_per_s"] = fetched
            print(f"  node-to-node fetch throughput (bytes/s): {fetched}", flush=True)
            for name, workflow in workflows.items():
                f = runs[name]["c"] = run_data_plane(hosts, phase, peer_model, workflow)
                print(
                    f"  {name:15s} {RUN_NAMES['c']:15s} wall {f.wall:6.2f} s, span {f.span:6.2f} s, "
                    f"planned {f.planned_span:6.2f} s",
                    flush=True,
                )
        print("phase 3: Dask distributed: (d) durations unknown, (d') told", flush=True)
        with dask_phase(hosts, Path(tmp) / "dask") as dask:
            for i, (name, workflow) in enumerate(workflows.items()):
                for key, told in (("d", False), ("d_told", True)):
                    tag = f"{'t' if told else 'u'}{i}{name.replace('_', '')}"
                    f = runs[name][key] = run_dask(hosts, dask, workflow, tag=tag, told=told)
                    print(
                        f"  {name:15s} {RUN_NAMES[key]:15s} wall {f.wall:6.2f} s, span {f.span:6.2f} s",
                        flush=True,
                    )
        info = dict(hosts.info)
        tier, slow_node = hosts.name, hosts.slow_node
    elapsed = time.monotonic() - t_start

    if args.dump:
        Path(args.dump).write_text(
            json.dumps({n: {k: f.tasks for k, f in r.items()} for n, r in runs.items()}, indent=1)
        )
    results = {name: summarize(workflows[name], r, slow_node) for name, r in runs.items()}
    targets = check_targets(results)
    print()
    print(
        f"Peer data plane on the {tier} tier: nodes {NODES} (slots), "
        + (f"{SLOW_NODE} behind tbf {SLOW_MBIT:g} Mbit/s" if slow_node else "no slow link (loopback)")
        + f"; threshold {THRESHOLD // KIB} KiB; {elapsed:.0f} s in all"
    )
    print_table(results)
    for t in targets:
        print(f"target {t['target']}: {t['value']} {'met' if t['met'] else 'MISSED'}")
    summary = {
        "benchmark": "peers",
        "mode": "quick" if args.quick else "full",
        "tier": tier,
        "tier_info": info,
        "nodes": NODES,
        "slow_node": slow_node,
        "threshold_bytes": THRESHOLD,
        "models": {
            "b": {
                "fast_path_bytes_per_s": round(path_model.fast_bps),
                "node_path_bytes_per_s": {n: round(v) for n, v in path_model.node_bps.items()},
                "pair_bandwidth": "bench_makespan: driver trips in task costs, extra path cost per pair",
            },
            "c": {
                "task_cost": "body seconds",
                "pair_bytes_per_s": {n: round(v) for n, v in peer_model.node_bps.items()},
                "pair_bandwidth": "min over the pair's nodes: measured node-to-node fetch, tbf rate for the slow node"
                + ("" if args.per_transfer_link else " / its slots"),
            },
        },
        "lower_bound_c_model_s": {
            name: round(saga_graphs.lower_bound(peer_model.task_graph(w), peer_model.network(NODES)), 3)
            for name, w in workflows.items()
        },
        "elapsed_s": round(elapsed, 1),
        "machine": machine_info(),
        "dags": results,
        "targets": targets,
        "all_targets_met": all(t["met"] for t in targets),
    }
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
