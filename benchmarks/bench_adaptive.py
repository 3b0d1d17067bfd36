"""Adaptive-planning benchmark: saga-dfk re-planning as the run drifts from the plan, vs planning once,
vs stock placement, vs an oracle that was told the truth.

Why: a plan is only as good as what it was told. Three stories break one assumption each, on the same
seeded DAG and the same 4 pools (node-a..node-d, 2 slots each):

* (a) late node: node-d registers after the workflow was submitted. Local tier: its pool is killed right
  after the kernel started and Parsl's strategy starts a replacement (``LocalVirtualClusterProvider.
  kill_node``), which registers ~10-15 s after start. Netns tier: its pool is started by hand ``--late``
  seconds after the first submit. The output says how late it really registered (after the other nodes and
  after the first submit). The saga-dfk runs of this story say ``min_nodes=3``: otherwise the first round
  waits for the expected node-d (up to ``node_settle_time``, 60 s), which is a different story.
* (b) slow node: node-d runs every task 2x slower than declared (the body sleeps ``cost *
  factor[current_node()]``). node-d is a node the plan that does not know gives layer tasks only (HEFT puts
  both chains on node-a), so what is lost before calibration notices is capacity, not the critical path.
* (c) wrong cost: the chain function's declared cost is 1/3 of its true cost.

The DAG (seeded, declared per function with ``DeclaredCostModel(costs=...)``, true seconds on a speed-1
node): layer 0 = independent ``prep`` 0.3 / ``sim`` 1.0 / ``post`` 0.6 s tasks, layer 1 = ``merge`` 0.6 s
tasks reading 2 of layer 0, layer 2 = ``reduce`` 1.0 s tasks reading 3 of layer 1, all submitted first; then
2 chains of ``chain`` stages of 2.0 s; a ``join`` (0.3 s) of layer 2 and the chain ends. Full: layers
56/28/12 + 2 chains x 6 + 1 = 109 tasks (88 s of work, chain path 12.3 s); quick: 36/18/8 + 2 x 4 + 1 =
71 (56 s, 8.3 s). The chains are the critical path and the layers about fill the 6 slots beside them, so
placement matters (stock dispatch is FIFO by task id: the chains start only once layer 0 is handed out,
and each stage waits behind layer tasks queued before it) and so does capacity (a missing or slow node is
felt).

Configurations, each on a fresh kernel (load, run, cleanup, ``parsl.clear()``), the same executor kind:

* adaptive: ``saga_dfk.SagaConfig`` defaults (``adaptive=True``: re-plan on node join and drift), costs as
  declared (story (c): wrong);
* plan-once: the same with ``adaptive=False``;
* stock: the same executor and pools, tasks opted out of planning (``{"saga_plan": False}``): the
  interchange's shared FIFO queue;
* oracle: saga-dfk told the truth: the true costs, a static ``network=`` spec (node-d ``speed`` 0.5 in
  story (b)), and in story (a) node-d present from the start.

Figures: "wall" = driver clock from the first submit to the last result (planning included); "span" = first
task start to last task end as the workers measured them. Targets (wall): adaptive/oracle <= 1.15,
adaptive/stock <= 0.8 in every story. A miss prints the adaptive run's profile: its planning rounds and
their reasons, tasks per node (first plan / final plan / where they ran) and the calibration factors.

Where the pools run: as root with ``ip netns``, each node is a network namespace on a private bridge
(support/repo_support/netns.py) running one ``parsl_affinity_htex.worker_pool`` started by hand; else (or
with ``--local``) a ``parsl_affinity_htex.LocalVirtualCluster`` on loopback. The output says which ran.

    ./pants run benchmarks/bench_adaptive.py                 # full: 12 kernels, ~6 min on 2 cores (9 when loaded)
    ./pants run benchmarks/bench_adaptive.py -- --quick      # smaller DAG, ~5-6 min: pool start-up dominates
    PYTHONPATH=packages/saga-dfk/src:packages/saga-graphs/src:packages/parsl-affinity-htex/src:support:benchmarks \\
        python benchmarks/bench_adaptive.py [--quick] [--local] [--stories a,b,c] [--configs adaptive,stock] [--dump F]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parsl
from _common import format_table, machine_info, quiet_logging
from parsl import python_app
from parsl.providers import LocalProvider

import saga_dfk
import saga_graphs
from parsl_affinity_htex import (
    AffinityHighThroughputExecutor,
    LocalVirtualCluster,
    LocalVirtualClusterProvider,
    NodeChange,
)
from repo_support.netns import NetnsCluster, netns_cluster, unavailable_reason
from repo_support.pools import AFFINITY_POOL_MODULE, child_env, pool_argv
from repo_support.waiting import wait_until

NODES: dict[str, int] = {"node-a": 2, "node-b": 2, "node-c": 2, "node-d": 2}  # name -> worker slots
LABEL = "adaptive"
OPT_OUT_KEY = "saga_plan"  # saga_dfk: resource-spec key; False keeps a task out of planning (stock placement)
#: true seconds per task of each function on a speed-1 node
FUNCTIONS: dict[str, float] = {
    "prep": 0.3,
    "sim": 1.0,
    "post": 0.6,
    "merge": 0.6,
    "reduce": 1.0,
    "chain": 2.0,
    "join": 0.3,
}
LAYER0_FUNCTIONS = ("prep", "sim", "post")
LATE_NODE = "node-d"
SLOW_NODE = "node-d"
SLOW_FACTOR = 2.0
WRONG_FUNCTION = "chain"
WRONG_FACTOR = 3.0  # true cost / declared cost
TARGET_VS_ORACLE = 1.15
TARGET_VS_STOCK = 0.8
RUN_TIMEOUT = 300.0
STARTUP_TIMEOUT = 150.0
CLEANUP_DEADLINE = 60.0
CONFIGS = ("adaptive", "plan-once", "stock", "oracle")


# ---------------------------------------------------------------------------------------------- workflow
@dataclass(frozen=True)
class Task:
    name: str
    func: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    """Layer widths (layer 0 independent, layer 1 reads 2 tasks of layer 0, layer 2 reads 3 of layer 1), chains."""

    widths: tuple[int, int, int]
    chains: int
    stages: int

    def describe(self) -> str:
        return f"layers {'/'.join(map(str, self.widths))}, {self.chains} chains x {self.stages}"


FULL = Shape((56, 28, 12), chains=2, stages=6)
QUICK = Shape((36, 18, 8), chains=2, stages=4)


def workflow(shape: Shape, seed: int) -> list[Task]:
    """Layers first (submission order = stock's dispatch order), then the chains, then the join."""
    rng = random.Random(seed)
    w0, w1, w2 = shape.widths
    out = [Task(f"l0_{i}", rng.choice(LAYER0_FUNCTIONS)) for i in range(w0)]
    out += [
        Task(f"l1_{i}", "merge", tuple(sorted({f"l0_{rng.randrange(w0)}" for _ in range(2)})))
        for i in range(w1)
    ]
    out += [
        Task(f"l2_{i}", "reduce", tuple(sorted({f"l1_{rng.randrange(w1)}" for _ in range(3)})))
        for i in range(w2)
    ]
    for c in range(shape.chains):
        for k in range(shape.stages):
            out.append(Task(f"c{c}_{k}", "chain", (f"c{c}_{k - 1}",) if k else ()))
    ends = tuple(f"l2_{i}" for i in range(w2)) + tuple(
        f"c{c}_{shape.stages - 1}" for c in range(shape.chains)
    )
    out.append(Task("join", "join", ends))
    return out


def make_apps(true_costs: Mapping[str, float], slowdown: Mapping[str, float]) -> dict[str, Any]:
    """One python_app per function, built here so Parsl serializes them by value (workers import nothing).

    Each app's function has the function's name (saga-dfk's cost model and calibration key on it); the body
    sleeps its true cost times its node's slowdown and returns where and when it ran (worker clock).
    """
    apps: dict[str, Any] = {}
    for fname, seconds in true_costs.items():

        def body(
            *parents: Any,
            _seconds: float = seconds,
            _slowdown: Mapping[str, float] = dict(slowdown),
            parsl_resource_specification: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            import time as _time

            from parsl_affinity_htex import current_node

            node = str(current_node())
            started = _time.time()
            _time.sleep(_seconds * _slowdown.get(node, 1.0))
            return {"node": node, "start": started, "end": _time.time()}

        body.__name__ = fname
        apps[fname] = python_app(body, executors=[LABEL])
    return apps


# ---------------------------------------------------------------------------------------------- stories
@dataclass(frozen=True)
class Story:
    key: str
    title: str
    slowdown: dict[str, float] = field(default_factory=dict)  # node -> true slowdown
    declared: dict[str, float] = field(default_factory=lambda: dict(FUNCTIONS))  # what saga-dfk is told
    late_node: str | None = None

    def oracle_network(self) -> dict[str, Any]:
        """The truth as a static network spec: every node, node speeds = 1 / slowdown."""
        return {
            "nodes": [
                {"name": n, "slots": s, "speed": 1.0 / self.slowdown.get(n, 1.0)} for n, s in NODES.items()
            ],
            "default_bandwidth": 1e12,
        }


STORIES: dict[str, Story] = {
    "a": Story("a", f"(a) {LATE_NODE} registers late", late_node=LATE_NODE),
    "b": Story("b", f"(b) {SLOW_NODE} {SLOW_FACTOR:g}x slower", slowdown={SLOW_NODE: SLOW_FACTOR}),
    "c": Story(
        "c",
        f"(c) {WRONG_FUNCTION} cost 1/{WRONG_FACTOR:g} declared",
        declared={**FUNCTIONS, WRONG_FUNCTION: FUNCTIONS[WRONG_FUNCTION] / WRONG_FACTOR},
    ),
}


# ---------------------------------------------------------------------------------------------- tiers
class NodeClock:
    """When each node (last) registered, from the executor's node listener (wall clock): a pool killed
    right after start that registered before the kill counts by its replacement's registration."""

    def __init__(self) -> None:
        self.joined: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, change: NodeChange) -> None:
        if change.kind == "joined":
            with self._lock:
                self.joined[change.node.name] = time.time()


class Tier:
    """Where the pools run. Per run: ``executor()``, ``start()`` after load, ``first_submit()``, ``stop()``."""

    name = "?"
    info: dict[str, Any]

    def executor(self) -> AffinityHighThroughputExecutor:
        raise NotImplementedError

    def start(self, executor: AffinityHighThroughputExecutor, late: str | None, run_dir: Path) -> None:
        """Start (or let start) every node's pool; ``late``'s pool is made to register late."""
        raise NotImplementedError

    def first_submit(self, executor: AffinityHighThroughputExecutor, late: str | None, at: float) -> None:
        """Called at the first submit (the netns tier starts the late pool from it)."""

    def stop(self, executor: AffinityHighThroughputExecutor) -> None:
        """Kill every pool this run started (idempotent; called after cleanup, also on failure)."""
        raise NotImplementedError


class LocalTier(Tier):
    """The nodes as a LocalVirtualCluster on loopback; the provider starts one pool per node at load."""

    name = "local"

    def __init__(self, reason: str) -> None:
        self.info = {"why_not_netns": reason}
        self.killed_at: float | None = None

    def executor(self) -> AffinityHighThroughputExecutor:
        return LocalVirtualCluster(NODES).executor(
            label=LABEL, heartbeat_period=2, heartbeat_threshold=20, node_poll_period=0.5
        )

    @staticmethod
    def _provider(executor: AffinityHighThroughputExecutor) -> LocalVirtualClusterProvider:
        provider = executor.provider
        assert isinstance(provider, LocalVirtualClusterProvider)
        return provider

    def start(self, executor: AffinityHighThroughputExecutor, late: str | None, run_dir: Path) -> None:
        self.killed_at = None
        if late is None:
            return
        provider = self._provider(executor)

        def kill() -> bool:
            provider.kill_node(late)  # ProcessLookupError until its pool process runs: "not yet"
            return True

        wait_until(kill, timeout=60, what=f"{late}'s pool to kill", period=0.05)
        self.killed_at = time.time()

    def stop(self, executor: AffinityHighThroughputExecutor) -> None:
        with contextlib.suppress(Exception):
            self._provider(executor).kill_all()


class NetnsTier(Tier):
    """Four namespaces on a bridge, created once; each run's pools are started by hand in them."""

    name = "netns"

    def __init__(self, cluster: NetnsCluster, late_s: float) -> None:
        self.cluster = cluster
        self.late_s = late_s
        self.info = {"driver_address": cluster.driver_address, "late_pool_started_after_submit_s": late_s}
        self._timer: threading.Timer | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._run_dir = Path(".")
        self.late_started_at: float | None = None

    def executor(self) -> AffinityHighThroughputExecutor:
        return AffinityHighThroughputExecutor(
            label=LABEL,
            address=self.cluster.driver_address,
            provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
            max_workers_per_node=max(NODES.values()),
            heartbeat_period=2,
            heartbeat_threshold=20,
            node_poll_period=0.5,
        )

    def _spawn(self, executor: AffinityHighThroughputExecutor, node: str) -> None:
        # argparse keeps the last --max_workers_per_node; PARSL_CORES stops the pool capping workers at 2 cores
        argv = pool_argv(executor, node=node, block_id=f"{node}-0", module=AFFINITY_POOL_MODULE)
        proc = self.cluster.spawn(
            node,
            [*argv, f"--max_workers_per_node={NODES[node]}"],
            env=child_env({"PARSL_CORES": str(NODES[node])}),
            log_path=self._run_dir / f"pool-{node}.log",
        )
        self._procs.append(proc)

    def start(self, executor: AffinityHighThroughputExecutor, late: str | None, run_dir: Path) -> None:
        self._run_dir = run_dir
        self.late_started_at = None
        for node in NODES:
            if node != late:
                self._spawn(executor, node)

    def first_submit(self, executor: AffinityHighThroughputExecutor, late: str | None, at: float) -> None:
        if late is None:
            return

        def start_late() -> None:
            self.late_started_at = time.time()
            self._spawn(executor, late)

        self._timer = threading.Timer(max(0.0, at + self.late_s - time.time()), start_late)
        self._timer.daemon = True
        self._timer.start()

    def stop(self, executor: AffinityHighThroughputExecutor) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(timeout=10)
            self._timer = None
        # each pool runs in its own session (spawn's start_new_session) with its workers: kill the group.
        # Anything left over is killed with the namespaces when the cluster is torn down.
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._procs.clear()


@contextlib.contextmanager
def make_tier(local: bool, late_s: float) -> Iterator[Tier]:
    reason = "--local given" if local else unavailable_reason()
    if reason:
        yield LocalTier(reason)
        return
    with netns_cluster(list(NODES)) as cluster:
        yield NetnsTier(cluster, late_s)


# ---------------------------------------------------------------------------------------------- one run
@dataclass
class RunOutcome:
    story: str
    config: str
    wall: float | None = None
    span: float | None = None
    ran_on: dict[str, str] = field(default_factory=dict)
    times: dict[str, tuple[float, float]] = field(
        default_factory=dict
    )  # task -> (start, end) after first submit
    report: dict[str, Any] | None = None  # saga-dfk's run_report() (saga configurations)
    tids: dict[str, int] = field(default_factory=dict)
    first_submit: float = 0.0  # wall clock
    joins: dict[str, float] = field(default_factory=dict)  # node -> seconds after the first submit
    late: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # the whole run: start-up, run, cleanup
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase of the run

    def summary(self) -> dict[str, Any]:
        rounds = (self.report or {}).get("rounds", [])
        return {
            "wall_s": _r(self.wall),
            "span_s": _r(self.span),
            "rounds": len(rounds),
            "moved": sum(int(r.get("moved") or 0) for r in rounds),
            "tasks_per_node": dict(sorted(Counter(self.ran_on.values()).items())),
            "late_node": self.late or None,
            "error": self.error,
            "run_seconds": _r(self.seconds, 1),
            "phases_s": {k: round(v, 1) for k, v in self.phases.items()},
        }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def saga_config(
    story: Story,
    config: str,
    executor: AffinityHighThroughputExecutor,
    run_dir: Path,
    overrides: Mapping[str, Any],
) -> saga_dfk.SagaConfig:
    """The SagaConfig of one configuration (see the module docstring); ``overrides`` (command line) last."""
    options: dict[str, Any] = {}
    if config == "oracle":
        costs = dict(FUNCTIONS)
        options["network"] = story.oracle_network()
    else:
        costs = dict(story.declared)
        if story.late_node is not None:
            options["min_nodes"] = len(NODES) - 1  # plan on the nodes there (see the module docstring)
    if config == "plan-once":
        options["adaptive"] = False
    return saga_dfk.SagaConfig(
        executors=[executor],
        cost_model=saga_graphs.DeclaredCostModel(costs=costs),
        run_dir=str(run_dir),
        **{**options, **overrides},
    )


def warm_up(apps: Mapping[str, Any], nodes: Sequence[str]) -> None:
    """One pinned short task per worker slot, so worker start-up is in no makespan."""
    futures = [
        apps["prep"](parsl_resource_specification={"node": n, "affinity": "hard", OPT_OUT_KEY: False})
        for n in nodes
        for _ in range(NODES[n])
    ]
    for fut in futures:
        fut.result(timeout=120)


def kill_leftovers(tier: Tier, executor: AffinityHighThroughputExecutor) -> None:
    """Kill this run's pools and the interchange if still there, and forget the DFK (after cleanup or a failure)."""
    tier.stop(executor)
    proc = getattr(executor, "interchange_proc", None)
    if proc is not None:
        with contextlib.suppress(Exception):
            proc.kill()
    parsl.clear()


def stop_kernel(
    dfk: saga_dfk.SagaDataFlowKernel, tier: Tier, executor: AffinityHighThroughputExecutor
) -> None:
    """cleanup() under a deadline, then kill whatever pool and interchange is left; always parsl.clear()."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if not dfk.cleanup_called:
                dfk.cleanup()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, name="bench-cleanup", daemon=True)
    thread.start()
    thread.join(CLEANUP_DEADLINE)
    kill_leftovers(tier, executor)
    if thread.is_alive():
        raise TimeoutError(f"dfk.cleanup() did not return within {CLEANUP_DEADLINE:.0f}s")
    if errors:
        raise errors[0]


def run_config(
    tier: Tier,
    story: Story,
    config: str,
    dag: Sequence[Task],
    run_dir: Path,
    overrides: Mapping[str, Any],
) -> RunOutcome:
    """One configuration of one story on a fresh kernel; errors are recorded, never raised."""
    outcome = RunOutcome(story.key, config)
    began = time.monotonic()
    late = story.late_node if config != "oracle" else None
    clock = NodeClock()
    executor = tier.executor()
    executor.add_node_listener(clock)
    run_dir.mkdir(parents=True, exist_ok=True)
    dfk: saga_dfk.SagaDataFlowKernel | None = None
    try:
        dfk = saga_dfk.load(saga_config(story, config, executor, run_dir, overrides))
        loaded_at = time.time()
        outcome.phases["load"] = time.monotonic() - began
        tier.start(executor, late, run_dir)
        present = [n for n in NODES if n != late]
        wait_until(
            lambda: set(executor.connected_nodes()) >= set(present),
            timeout=STARTUP_TIMEOUT,
            what=f"pools of {present}",
            period=0.25,
        )
        apps = make_apps(FUNCTIONS, story.slowdown)
        outcome.phases["pools"] = time.monotonic() - began - outcome.phases["load"]
        warm_up(apps, present)
        outcome.phases["warm_up"] = (
            time.monotonic() - began - outcome.phases["load"] - outcome.phases["pools"]
        )
        _run_dag(dfk, tier, executor, apps, config, dag, late, outcome)
        first = outcome.first_submit
        outcome.joins = {n: round(t - first, 2) for n, t in sorted(clock.joined.items())}
        if late is not None:
            others = max(t for n, t in clock.joined.items() if n != late)
            joined = clock.joined.get(late)
            outcome.late = {
                "after_other_nodes_s": _r(joined - others, 2) if joined else None,
                "after_first_submit_s": _r(joined - first, 2) if joined else None,
                "after_kernel_load_s": _r(joined - loaded_at, 2) if joined else None,
            }
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        stopping = time.monotonic()
        if dfk is not None:
            try:
                stop_kernel(dfk, tier, executor)
            except Exception as exc:
                outcome.error = (outcome.error + "; " if outcome.error else "") + f"cleanup: {exc!r}"
        else:
            kill_leftovers(tier, executor)
        outcome.phases["cleanup"] = time.monotonic() - stopping
    outcome.seconds = time.monotonic() - began
    return outcome


def _run_dag(
    dfk: saga_dfk.SagaDataFlowKernel,
    tier: Tier,
    executor: AffinityHighThroughputExecutor,
    apps: Mapping[str, Any],
    config: str,
    dag: Sequence[Task],
    late: str | None,
    outcome: RunOutcome,
) -> None:
    """Submit the DAG, wait for every result, measure wall, span and (saga) the run report."""
    spec: dict[str, Any] = {OPT_OUT_KEY: False} if config == "stock" else {}
    futures: dict[str, Any] = {}
    done_at: dict[str, float] = {}
    started = outcome.first_submit = time.time()
    tier.first_submit(executor, late, started)
    for t in dag:
        fut = apps[t.func](*[futures[p] for p in t.parents], parsl_resource_specification=dict(spec))
        fut.add_done_callback(lambda _f, name=t.name: done_at.__setitem__(name, time.time()))
        futures[t.name] = fut
    if config != "stock":
        dfk.execute(timeout=RUN_TIMEOUT)
    deadline = time.monotonic() + RUN_TIMEOUT
    results = {n: f.result(timeout=max(1.0, deadline - time.monotonic())) for n, f in futures.items()}
    outcome.wall = max(done_at.get(n, time.time()) for n in futures) - started
    outcome.span = max(r["end"] for r in results.values()) - min(r["start"] for r in results.values())
    outcome.ran_on = {n: r["node"] for n, r in results.items()}
    outcome.times = {
        n: (round(r["start"] - started, 3), round(r["end"] - started, 3)) for n, r in results.items()
    }
    outcome.tids = {n: f.tid for n, f in futures.items()}
    if config != "stock":
        outcome.report = dfk.run_report()


# ---------------------------------------------------------------------------------------------- summary
def node_counts(outcome: RunOutcome) -> dict[str, dict[str, int]]:
    """Per node: DAG tasks in the first plan, the final plan, and where they ran."""
    rows = {row["id"]: row for row in (outcome.report or {}).get("tasks", [])}
    first: Counter[str] = Counter()
    final: Counter[str] = Counter()
    for tid in outcome.tids.values():
        row = rows.get(tid)
        if not row or not row.get("planned"):
            continue
        final[row["planned"]["node"]] += 1
        moves = row.get("replanned") or []
        first[moves[0]["from"] if moves else row["planned"]["node"]] += 1
    ran = Counter(outcome.ran_on.values())
    return {n: {"first_plan": first[n], "final_plan": final[n], "ran": ran[n]} for n in NODES}


def profile(outcome: RunOutcome) -> list[str]:
    """What explains an adaptive run: its rounds and their reasons, tasks per node, calibration."""
    report = outcome.report or {}
    lines = [f"  profile of the {outcome.config} run of story {outcome.story}:"]
    for r in report.get("rounds", []):
        pm = r.get("predicted_makespan")
        lines.append(
            f"    round {r.get('round')}: {r.get('reason')!r}: {r.get('tasks')} new, {r.get('replanned')} "
            f"re-planned, {r.get('moved')} moved, predicted makespan {pm:.2f} s, planned with calibration "
            f"{_compact(r.get('calibration'))}"
            if isinstance(pm, int | float)
            else f"    round {r.get('round')}: {r.get('reason')!r}"
        )
    counts = node_counts(outcome)
    lines.append(
        "    DAG tasks per node (first plan / final plan / ran): "
        + ", ".join(f"{n} {c['first_plan']}/{c['final_plan']}/{c['ran']}" for n, c in counts.items())
    )
    lines.append(f"    calibration at the end: {_compact(report.get('calibration'))}")
    fid = report.get("fidelity", {})
    if fid:
        lines.append(
            f"    on planned node: {fid.get('on_planned_node')}, actual/planned span: {fid.get('makespan_ratio')}"
        )
    if outcome.late:
        lines.append(f"    late node: {outcome.late}; joins after first submit: {outcome.joins}")
    return lines


def _compact(factors: Any) -> str:
    """Calibration factors ({"nodes": {...}, "functions": {...}}) as one short string."""
    if not isinstance(factors, Mapping):
        return "-"
    parts = [
        f"{kind[:-1]} {name} x{value:.2f}"
        for kind in ("nodes", "functions")
        for name, value in sorted((factors.get(kind) or {}).items())
    ]
    return ", ".join(parts) or "none"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else round(a / b, 4)


def story_result(runs: Mapping[str, RunOutcome]) -> dict[str, Any]:
    def wall(c: str) -> float | None:
        return runs[c].wall if c in runs else None

    def span(c: str) -> float | None:
        return runs[c].span if c in runs else None

    vs_oracle = _ratio(wall("adaptive"), wall("oracle"))
    vs_stock = _ratio(wall("adaptive"), wall("stock"))
    return {
        "runs": {c: o.summary() for c, o in runs.items()},
        "adaptive_over_oracle": vs_oracle,
        "adaptive_over_stock": vs_stock,
        "plan_once_over_oracle": _ratio(wall("plan-once"), wall("oracle")),
        "span_adaptive_over_oracle": _ratio(span("adaptive"), span("oracle")),
        "span_adaptive_over_stock": _ratio(span("adaptive"), span("stock")),
        "meets_vs_oracle": vs_oracle is not None and vs_oracle <= TARGET_VS_ORACLE,
        "meets_vs_stock": vs_stock is not None and vs_stock <= TARGET_VS_STOCK,
        "adaptive_profile": {
            "rounds": [
                {
                    k: r.get(k)
                    for k in ("round", "reason", "tasks", "replanned", "moved", "predicted_makespan")
                }
                for r in (runs["adaptive"].report or {}).get("rounds", [])
            ],
            "tasks_per_node": node_counts(runs["adaptive"]),
            "calibration": (runs["adaptive"].report or {}).get("calibration"),
        }
        if "adaptive" in runs
        else None,
    }


def _verdict(value: float | None, ok: bool) -> str:
    return "n/a" if value is None else ("met" if ok else "MISSED")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller DAG (71 tasks instead of 109)")
    parser.add_argument("--local", action="store_true", help="use the local virtual cluster even as root")
    parser.add_argument("--seed", type=int, default=3, help="DAG seed (default 3)")
    parser.add_argument(
        "--late",
        type=float,
        default=None,
        help="netns tier: start the late node's pool this many seconds after the first submit "
        "(default 4 full, 3 quick)",
    )
    parser.add_argument("--stories", default="a,b,c", help="comma-separated subset of a,b,c (default all)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    parser.add_argument(
        "--dispatch-window",
        type=float,
        default=None,
        help="SagaConfig(dispatch_window=...) for every saga-dfk configuration (default: saga-dfk's, 2.0)",
    )
    parser.add_argument("--run-dir", help="keep Parsl's run directories (logs) here instead of a temp dir")
    parser.add_argument(
        "--dump",
        metavar="PATH",
        help="write every run's per-task node and times (and saga-dfk's run report) as JSON",
    )
    args = parser.parse_args(argv)
    quiet_logging()
    stories = [STORIES[s.strip()] for s in args.stories.split(",") if s.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; expected {list(CONFIGS)}")
    overrides: dict[str, Any] = {}
    if args.dispatch_window is not None:
        overrides["dispatch_window"] = args.dispatch_window
    shape = QUICK if args.quick else FULL
    dag = workflow(shape, seed=args.seed)
    late_s = args.late if args.late is not None else (3.0 if args.quick else 4.0)
    work = sum(FUNCTIONS[t.func] for t in dag)
    critical = shape.stages * FUNCTIONS["chain"] + FUNCTIONS["join"]
    began = time.monotonic()

    outcomes: dict[str, dict[str, RunOutcome]] = {}
    with contextlib.ExitStack() as stack:
        root = (
            Path(args.run_dir) if args.run_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        tier = stack.enter_context(make_tier(args.local, late_s))
        if tier.name == "local":
            print(
                f"NOTE: network namespaces unavailable ({tier.info['why_not_netns']}); local virtual cluster"
            )
        print(
            f"DAG: {len(dag)} tasks ({shape.describe()}), "
            f"{work:.1f} s of work, chain path {critical:.1f} s; nodes {NODES}; {tier.name} tier",
            flush=True,
        )
        for story in stories:
            outcomes[story.key] = {}
            for config in configs:
                run = run_config(tier, story, config, dag, root / f"{story.key}-{config}", overrides)
                outcomes[story.key][config] = run
                extra = f", late node {run.late}" if run.late else ""
                print(
                    f"  {story.title:28s} {config:9s}: wall {run.wall or float('nan'):6.2f} s, "
                    f"span {run.span or float('nan'):6.2f} s, "
                    f"rounds {len((run.report or {}).get('rounds', []))}{extra} [{run.seconds:.0f} s: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in run.phases.items())
                    + "]"
                    + (f" ERROR {run.error}" if run.error else ""),
                    flush=True,
                )

    if args.dump:
        Path(args.dump).write_text(
            json.dumps(
                {
                    f"{k}/{c}": {
                        "tasks": {n: [o.ran_on[n], *o.times[n]] for n in o.times},
                        "task_ids": o.tids,
                        "run_report": o.report,
                    }
                    for k, runs in outcomes.items()
                    for c, o in runs.items()
                },
                indent=1,
            )
        )
    results = {key: story_result(runs) for key, runs in outcomes.items()}
    print()
    print(
        f"Adaptive planning on the {tier.name} tier, nodes {NODES} (slots); wall = first submit to last result"
    )
    headers = ["story", *(f"{c} wall" for c in configs), "adapt/oracle", "adapt/stock", "once/oracle"]
    rows = [
        [
            STORIES[key].title,
            *(_r(outcomes[key][c].wall, 2) for c in configs),
            r["adaptive_over_oracle"],
            r["adaptive_over_stock"],
            r["plan_once_over_oracle"],
        ]
        for key, r in results.items()
    ]
    print(format_table(headers, rows))
    span_headers = ["story", *(f"{c} span" for c in configs), "rounds (adaptive)", "moved (adaptive)"]
    span_rows = [
        [
            STORIES[key].title,
            *(_r(outcomes[key][c].span, 2) for c in configs),
            r["runs"].get("adaptive", {}).get("rounds"),
            r["runs"].get("adaptive", {}).get("moved"),
        ]
        for key, r in results.items()
    ]
    print(format_table(span_headers, span_rows))
    for key, r in results.items():
        adaptive = outcomes[key].get("adaptive")
        if adaptive is not None and adaptive.late:
            print(f"story {key}: {LATE_NODE} registered {adaptive.late} (adaptive run)")
        print(
            f"story {key}: adaptive/oracle <= {TARGET_VS_ORACLE}: {r['adaptive_over_oracle']} "
            f"{_verdict(r['adaptive_over_oracle'], r['meets_vs_oracle'])}; adaptive/stock <= "
            f"{TARGET_VS_STOCK}: {r['adaptive_over_stock']} {_verdict(r['adaptive_over_stock'], r['meets_vs_stock'])}"
        )
        missed = (r["adaptive_over_oracle"] is not None and not r["meets_vs_oracle"]) or (
            r["adaptive_over_stock"] is not None and not r["meets_vs_stock"]
        )
        if missed and adaptive is not None:
            print("\n".join(profile(adaptive)))
    errors = {f"{k}/{c}": o.error for k, runs in outcomes.items() for c, o in runs.items() if o.error}
    summary = {
        "benchmark": "adaptive",
        "mode": "quick" if args.quick else "full",
        "tier": tier.name,
        "tier_info": tier.info,
        "nodes": NODES,
        "dag": {
            "tasks": len(dag),
            "layer_widths": list(shape.widths),
            "chains": shape.chains,
            "stages": shape.stages,
            "seed": args.seed,
            "work_s": round(work, 2),
            "chain_path_s": round(critical, 2),
            "function_costs_s": FUNCTIONS,
        },
        "stories": {STORIES[k].title: r for k, r in results.items()},
        "targets": {
            "adaptive_over_oracle": f"<= {TARGET_VS_ORACLE}",
            "adaptive_over_stock": f"<= {TARGET_VS_STOCK}",
        },
        "all_targets_met": bool(results)
        and all(r["meets_vs_oracle"] and r["meets_vs_stock"] for r in results.values()),
        "saga_config_overrides": overrides,
        "errors": errors,
        "total_seconds": round(time.monotonic() - began, 1),
        "machine": machine_info(),
    }
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
