"""Dispatch benchmark: stock HighThroughputExecutor vs AffinityHighThroughputExecutor with every task tagged.

Default mode (DFK): each run starts a fresh DataFlowKernel with two local worker pools of two workers each
(stock: LocalProvider with two blocks; affinity: a LocalVirtualCluster with node-a and node-b, tasks tagged to
them alternately), waits until both pools have registered, then times N no-op tasks from the first submit to the
last result. Runs alternate (stock, affinity, affinity, stock, ...) in this one process tree so machine noise hits
both alike. Prints a table and one JSON line with the median throughput ratio (target >= 0.95).

    ./pants run benchmarks/bench_dispatch.py -- --tasks 10000 --rounds 3

Pool-scaling mode (``--pools``): the interchange alone, against N simulated worker pools per size. Each run
starts a real executor without a DataFlowKernel (stock ``HighThroughputExecutor`` running
``python -m parsl.executors.high_throughput.interchange``, or ``AffinityHighThroughputExecutor`` running
``python -m parsl_affinity_htex.interchange``; both unencrypted on 127.0.0.1, LocalProvider with no blocks,
upstream's default heartbeat period/threshold 30/120 s) and connects N simulated managers to its worker port:
zmq DEALER sockets in helper processes (``--managers-per-helper`` each) that speak parsl 2026.10.26's manager
protocol (connection probe, registration as ``Manager.create_reg_message`` builds it, plus ``node_name = sim-<i>``
for the affinity interchange, heartbeats) and answer every task at once with a ``None`` result in the worker's
format, so nothing but the interchange and the executor's own submit/result path is measured. Once all N have
registered (``connected_managers()``) and a warm-up batch has run, T tasks go in through ``executor.submit`` as
fast as possible (affinity: tagged ``{"node": "sim-<i>", "affinity": "soft"}`` round-robin over the nodes
``connected_nodes()`` reports; stock: untagged); throughput is T / (last result - first submit). Per size the
runs go stock, affinity, affinity, stock, ``--rounds`` times; the ratio is the median of the affinity/stock
pairs (target >= 0.9 at every size). Also printed per run and size: interchange CPU ms/task (psutil on the
interchange pid, the figure least disturbed by other load), driver and simulator CPU ms/task, run times.

    ./pants run benchmarks/bench_dispatch.py -- --pools 1,100,1000 --rounds 1

Defaults there: 20,000 tasks per run up to 100 pools and 5,000 above, 500 warm-up tasks, 4 workers per pool
(max_capacity 4, no prefetch), up to 1,000 managers per helper process waiting with epoll (``--sim-poller zmq``
uses one zmq.Poller instead, which costs the simulator ~0.7 ms per wake-up at 1,000 sockets and takes CPU from
the interchange on a small machine). ``--pools 1,100,1000`` takes 1-2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import pickle
import platform
import random
import select
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import parsl
import psutil
import zmq
from parsl import python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
from parsl.providers import LocalProvider
from parsl.serialize import serialize
from parsl.version import VERSION as PARSL_VERSION

# First-party modules (parsl_affinity_htex, _common -> saga_graphs) are imported inside the functions that need
# them: the simulated-manager helper processes run this module too and need only parsl and zmq, so they start
# faster and do not depend on first-party code that may be mid-edit.

TARGET_RATIO = 0.95
NODES = {"node-a": 2, "node-b": 2}


@python_app
def noop(parsl_resource_specification: dict[str, Any] = {}) -> None:  # noqa: B006 - Parsl's convention
    return None


def _stock_executor() -> HighThroughputExecutor:
    python = sys.executable
    return HighThroughputExecutor(
        label="stock",
        address="127.0.0.1",
        max_workers_per_node=2,
        # python -m, like the affinity executor, so both start their processes the same way
        launch_cmd=DEFAULT_LAUNCH_CMD.replace(
            "process_worker_pool.py", f"{python} -m parsl.executors.high_throughput.process_worker_pool", 1
        ),
        interchange_launch_cmd=[python, "-m", "parsl.executors.high_throughput.interchange"],
        provider=LocalProvider(init_blocks=2, min_blocks=2, max_blocks=2),
    )


def _affinity_executor() -> HighThroughputExecutor:
    from parsl_affinity_htex import LocalVirtualCluster

    return LocalVirtualCluster(NODES).executor(label="affinity")


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run_once(kind: str, tasks: int, run_dir: str, warmup: int) -> tuple[float, float, float]:
    """One run: tasks/s from first submit to last result (after an untimed warm-up batch), and the CPU
    milliseconds per task spent by this driver process and by the interchange process.

    CPU per task is far less sensitive than throughput to other load on a shared machine, so it shows whether
    the affinity executor does more work per task even when wall-clock throughput is noisy.
    The warm-up makes every worker deserialise its first task and import what it needs before timing starts,
    which otherwise lands in whichever run happens to be measured.
    """
    from repo_support.waiting import wait_until

    executor = _stock_executor() if kind == "stock" else _affinity_executor()
    dfk = parsl.load(Config(executors=[executor], strategy="none", strategy_period=0.5, run_dir=run_dir))
    try:
        wait_until(lambda: len(executor.connected_managers()) == 2, 180, f"{kind}: two pools to register")
        specs = [{"node": name} for name in NODES] if kind == "affinity" else [{}]
        for fut in [noop(parsl_resource_specification=specs[i % len(specs)]) for i in range(warmup)]:
            fut.result()
        assert executor.interchange_proc is not None
        driver, interchange = psutil.Process(), psutil.Process(executor.interchange_proc.pid)
        driver_cpu, interchange_cpu = _cpu_s(driver), _cpu_s(interchange)
        start = time.perf_counter()
        futures = [noop(parsl_resource_specification=specs[i % len(specs)]) for i in range(tasks)]
        for fut in futures:
            fut.result()
        elapsed = time.perf_counter() - start
        driver_cpu = _cpu_s(driver) - driver_cpu
        interchange_cpu = _cpu_s(interchange) - interchange_cpu
    finally:
        dfk.cleanup()
        parsl.clear()
    return tasks / elapsed, 1000 * driver_cpu / tasks, 1000 * interchange_cpu / tasks


# ----- pool-scaling mode ------------------------------------------------------------------------------------------
POOLS_TARGET_RATIO = 0.9
SIM_HELPER_FLAG = "--sim-helper"
HEARTBEAT_PERIOD_S = 30  # upstream's defaults; runs are far shorter than the threshold
HEARTBEAT_THRESHOLD_S = 120
KINDS = ("stock", "affinity")


def default_pool_tasks(pools: int) -> int:
    """Tasks per timed run: 20,000 up to 100 pools, 5,000 above (each pass of the loop is O(pools) there)."""
    return 20_000 if pools <= 100 else 5_000


def _noop() -> None:
    return None


def _registration(uid: str, index: int, workers: int, node_names: bool) -> dict[str, Any]:
    """What ``Manager.create_reg_message`` (parsl 2026.10.26 process_worker_pool.py) sends, with no packages."""
    msg: dict[str, Any] = {
        "type": "registration",
        "parsl_v": PARSL_VERSION,
        "python_v": "{}.{}.{}".format(*sys.version_info[:3]),
        "packages": {},
        "worker_count": workers,
        "uid": uid,
        "block_id": str(index),
        "start_time": time.time(),
        "drain_time": float("inf"),
        "prefetch_capacity": 0,
        "max_capacity": workers,
        "os": platform.system(),
        "hostname": platform.node(),
        "dir": os.getcwd(),
        "cpu_count": psutil.cpu_count(logical=False),
        "total_memory": psutil.virtual_memory().total,
    }
    if node_names:
        msg["node_name"] = f"sim-{index}"  # what parsl_affinity_htex.worker_pool adds
    return msg


def sim_helper(config: dict[str, Any]) -> None:
    """Simulated managers ``first .. first+count-1`` in this process, until a line (or EOF) on stdin.

    Like a real manager's interchange_communicator: DEALER with identity = uid, connection probe, registration,
    a heartbeat every heartbeat period (random phase), and one result message per task received (upstream's
    worker format ``{"type": "result", "task_id", "result": serialize(value)}``). The interchange's probe replies
    (empty frames) and heartbeat codes are ignored. Prints one JSON line of counters on exit.

    ``poller``: ``"zmq"`` is one zmq.Poller over all sockets, O(sockets) per wake-up (about 0.7 ms at 1,000
    sockets, which at 1,000 pools costs the simulator as much CPU as the stock interchange spends). ``"epoll"``
    (default) waits on the sockets' ZMQ_FD notification descriptors with one epoll object, O(ready) per wake-up,
    and reads ZMQ_EVENTS before trusting a socket to be empty (the descriptors only signal "state may have
    changed"); a once-a-second sweep over all sockets catches anything missed.
    """
    first, count, workers = int(config["first"]), int(config["count"]), int(config["workers"])
    use_epoll = config.get("poller", "epoll") == "epoll"
    ctx = zmq.Context()
    ctx.setsockopt(zmq.MAX_SOCKETS, count + 64)
    url = f"tcp://{config['address']}:{int(config['port'])}"
    heartbeat = pickle.dumps({"type": "heartbeat"})
    result_buffer = serialize(None)
    stdin_fd = sys.stdin.fileno()
    socks: list[Any] = []
    for i in range(first, first + count):
        uid = f"{config['tag']}-{i:05d}"
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, uid.encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(url)
        sock.send(pickle.dumps({"type": "connection_probe"}))
        sock.send(pickle.dumps(_registration(uid, i, workers, bool(config["node_names"]))))
        socks.append(sock)

    wait: Callable[[float], list[int]]
    if use_epoll:
        epoll = select.epoll()
        by_fd: dict[int, int] = {}
        for k, sock in enumerate(socks):
            fd = sock.getsockopt(zmq.FD)
            by_fd[fd] = k
            epoll.register(fd, select.EPOLLIN)
        epoll.register(stdin_fd, select.EPOLLIN)

        def wait(timeout_s: float) -> list[int]:
            return [by_fd.get(fd, -1) for fd, _ in epoll.poll(timeout_s)]

    else:
        poller = zmq.Poller()
        by_sock: dict[Any, int] = {}
        for k, sock in enumerate(socks):
            poller.register(sock, zmq.POLLIN)
            by_sock[sock] = k
        poller.register(stdin_fd, zmq.POLLIN)

        def wait(timeout_s: float) -> list[int]:
            return [by_sock.get(sock, -1) for sock, _ in poller.poll(int(timeout_s * 1000) + 1)]

    tasks = messages = polls = ready = 0

    def serve(sock: Any) -> None:
        nonlocal tasks, messages
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frame = sock.recv(zmq.NOBLOCK)
            messages += 1
            if not frame:  # reply to the connection probe
                continue
            batch = pickle.loads(frame)
            if not isinstance(batch, list):  # heartbeat (or drain/shutdown) code
                continue
            tasks += len(batch)
            for task in batch:
                sock.send(
                    pickle.dumps({"type": "result", "task_id": task["task_id"], "result": result_buffer})
                )

    period = float(config["heartbeat_period"])
    now = time.monotonic()
    next_beat = [now + random.uniform(0, period) for _ in socks]
    next_sweep = now
    running = True
    while running:
        now = time.monotonic()
        if now >= next_sweep:  # heartbeats due, then every socket once (sends can hide a readable state)
            for k, due in enumerate(next_beat):
                if now >= due:
                    socks[k].send(heartbeat)
                    next_beat[k] = now + period
            for sock in socks:
                serve(sock)
            next_sweep = now + 1.0
        events = wait(max(0.0, next_sweep - now))
        polls += 1
        ready += len(events)
        for k in events:
            if k < 0:  # stdin: stop
                running = False
                break
            serve(socks[k])
    stats = {"tasks": tasks, "messages": messages, "polls": polls, "ready_per_poll": ready / max(polls, 1)}
    print(json.dumps(stats), flush=True)
    ctx.destroy(linger=0)


class _Helpers:
    """The simulated-manager helper processes of one run (``python -m bench_dispatch --sim-helper CONFIG``)."""

    def __init__(
        self, port: int, pools: int, per_helper: int, workers: int, node_names: bool, tag: str, poller: str
    ) -> None:
        from parsl_affinity_htex import child_pythonpath

        self.procs: list[subprocess.Popen[bytes]] = []
        module = __spec__.name if __spec__ is not None else "bench_dispatch"
        env = {**os.environ, "PYTHONPATH": child_pythonpath()}  # they import this module by name
        for first in range(0, pools, per_helper):
            config = {
                "address": "127.0.0.1",
                "port": port,
                "first": first,
                "count": min(per_helper, pools - first),
                "workers": workers,
                "node_names": node_names,
                "tag": tag,
                "heartbeat_period": HEARTBEAT_PERIOD_S,
                "poller": poller,
            }
            argv = [sys.executable, "-m", module, SIM_HELPER_FLAG, json.dumps(config)]
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env))
        self.ps = [psutil.Process(p.pid) for p in self.procs]

    def check(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"simulated-manager helper (pid {p.pid}) exited with code {p.returncode}")

    def cpu_s(self) -> float:
        return sum(_cpu_s(p) for p in self.ps)

    def stop(self) -> list[dict[str, Any]]:
        stats: list[dict[str, Any]] = []
        for p in self.procs:
            try:
                out, _ = p.communicate(b"stop\n", timeout=15)
                stats.append(json.loads(out.decode().strip().splitlines()[-1]))
            except Exception:
                p.kill()
                p.wait()
        return stats


def _pool_executor(kind: str) -> HighThroughputExecutor:
    from parsl_affinity_htex import AffinityHighThroughputExecutor

    common: dict[str, Any] = {
        "encrypted": False,
        "address": "127.0.0.1",
        "provider": LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
        "heartbeat_period": HEARTBEAT_PERIOD_S,
        "heartbeat_threshold": HEARTBEAT_THRESHOLD_S,
    }
    if kind == "stock":
        return HighThroughputExecutor(
            label="stock",
            interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
            **common,
        )
    return AffinityHighThroughputExecutor(label="affinity", **common)


def _wait_all(futures: Sequence[Future[Any]], deadline: float, what: str, check: Callable[[], None]) -> None:
    """Wait for every future (re-raising task failures), calling ``check`` about once a second meanwhile."""
    for fut in futures:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            try:
                fut.result(timeout=min(remaining, 1.0))
                break
            except TimeoutError:
                if fut.done():
                    raise
                check()


@dataclass(frozen=True)
class SimSettings:
    """How the pool-scaling runs are driven (the same for both executors)."""

    warmup: int = 500
    workers: int = 4
    per_helper: int = 1000
    poller: str = "epoll"
    timeout: float = 240.0


def pool_run(kind: str, pools: int, tasks: int, sim: SimSettings, run_dir: str) -> dict[str, float]:
    """One run against ``pools`` simulated managers: tasks/s and CPU ms/task of interchange, driver, simulator."""
    from parsl_affinity_htex import AffinityHighThroughputExecutor

    began = time.perf_counter()
    deadline = time.monotonic() + sim.timeout
    executor = _pool_executor(kind)
    executor.run_dir = run_dir
    executor.run_id = os.path.basename(run_dir)
    assert executor.provider is not None
    executor.provider.script_dir = run_dir
    os.makedirs(run_dir, exist_ok=True)
    helpers: _Helpers | None = None
    try:
        executor.start()
        assert executor.interchange_proc is not None and executor.worker_port is not None
        helpers = _Helpers(
            int(executor.worker_port),
            pools,
            sim.per_helper,
            sim.workers,
            kind == "affinity",
            os.path.basename(run_dir),
            sim.poller,
        )

        def alive() -> None:
            assert helpers is not None and executor.interchange_proc is not None
            helpers.check()
            if executor.interchange_proc.poll() is not None:
                raise RuntimeError(
                    f"{kind} interchange exited with code {executor.interchange_proc.returncode}"
                )

        while len(executor.connected_managers()) < pools:
            alive()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out waiting for {pools} simulated managers to register with {kind}"
                )
            time.sleep(0.2)
        specs: list[dict[str, Any]] = [{}]
        if isinstance(executor, AffinityHighThroughputExecutor):
            nodes = sorted(executor.connected_nodes(), key=lambda name: int(name.rpartition("-")[2]))
            if len(nodes) != pools:
                raise RuntimeError(f"affinity: {len(nodes)} connected nodes, expected {pools}")
            specs = [{"node": name, "affinity": "soft"} for name in nodes]
        registered_at = time.perf_counter()
        warm = [executor.submit(_noop, specs[i % len(specs)]) for i in range(sim.warmup)]
        _wait_all(warm, deadline, f"{kind}: warm-up tasks", alive)

        interchange, driver = psutil.Process(executor.interchange_proc.pid), psutil.Process()
        ix_cpu, driver_cpu, sim_cpu = _cpu_s(interchange), _cpu_s(driver), helpers.cpu_s()
        start = time.perf_counter()
        futures = [executor.submit(_noop, specs[i % len(specs)]) for i in range(tasks)]
        submitted = time.perf_counter()
        _wait_all(futures, deadline, f"{kind}: {tasks} tasks", alive)
        end = time.perf_counter()
        ix_cpu, driver_cpu = _cpu_s(interchange) - ix_cpu, _cpu_s(driver) - driver_cpu
        sim_cpu = helpers.cpu_s() - sim_cpu
    finally:
        sim_stats = helpers.stop() if helpers is not None else []
        executor.shutdown()
    return {
        "tasks_per_s": tasks / (end - start),
        "interchange_ms": 1000 * ix_cpu / tasks,
        "driver_ms": 1000 * driver_cpu / tasks,
        "sim_ms": 1000 * sim_cpu / tasks,
        "submit_s": submitted - start,
        "timed_s": end - start,
        "setup_s": registered_at - began,
        "run_s": time.perf_counter() - began,
        "sim_ready_per_poll": statistics.mean(s["ready_per_poll"] for s in sim_stats)
        if sim_stats
        else math.nan,
    }


def _interchange_sha256() -> str | None:
    """Of the affinity interchange source the children will run (the file changes under development)."""
    spec = importlib.util.find_spec("parsl_affinity_htex.interchange")
    if spec is None or spec.origin is None:
        return None
    with open(spec.origin, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main_pools(args: argparse.Namespace, sizes: list[int]) -> dict[str, Any]:
    """Pool-scaling mode: per size, ``rounds`` x (stock, affinity, affinity, stock) against simulated managers."""
    from _common import format_table, machine_info

    began = time.perf_counter()
    rounds = 1 if args.rounds is None else args.rounds
    sim = SimSettings(
        warmup=args.warmup,
        workers=args.workers_per_pool,
        per_helper=args.managers_per_helper,
        poller=args.sim_poller,
        timeout=args.run_timeout,
    )
    # Unencrypted on purpose (loopback only, simulated pools): skip the per-run warning about it.
    warnings.filterwarnings("ignore", message=r".*encrypted=False")
    print(
        f"pool scaling: sizes {sizes}, {rounds} round(s) of stock/affinity/affinity/stock, {args.warmup} warm-up "
        f"tasks, {args.workers_per_pool} workers per pool, {args.managers_per_helper} managers per helper "
        f"({args.sim_poller}); "
        f"affinity interchange sha256 {_interchange_sha256()}",
        flush=True,
    )
    per_size: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_dispatch_pools_") as tmp:
        for pools in sizes:
            tasks = args.tasks if args.tasks is not None else default_pool_tasks(pools)
            runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
            pair_ratios: list[float] = []
            order = ("stock", "affinity", "affinity", "stock")
            for round_no in range(rounds):
                for slot, kind in enumerate(order):
                    run_dir = os.path.join(tmp, f"p{pools}-r{round_no}-{slot}-{kind}")
                    r = pool_run(kind, pools, tasks, sim, run_dir)
                    runs[kind].append(r)
                    print(
                        f"{pools:>5} pools round {round_no + 1}/{rounds} {kind:>8}: {r['tasks_per_s']:8.1f} tasks/s"
                        f" ({tasks} in {r['timed_s']:.2f}s, submit {r['submit_s']:.2f}s); CPU ms/task interchange"
                        f" {r['interchange_ms']:.3f}, driver {r['driver_ms']:.3f}, sim {r['sim_ms']:.3f};"
                        f" setup {r['setup_s']:.1f}s, run {r['run_s']:.1f}s",
                        flush=True,
                    )
                # pairs (stock, affinity) and (affinity, stock) of this round
                stock_runs, affinity_runs = runs["stock"][-2:], runs["affinity"][-2:]
                pair_ratios += [
                    affinity_runs[k]["tasks_per_s"] / stock_runs[k]["tasks_per_s"] for k in range(2)
                ]

            def med(kind: str, key: str, runs: dict[str, list[dict[str, float]]] = runs) -> float:
                return statistics.median(r[key] for r in runs[kind])

            ratio = statistics.median(pair_ratios)
            per_size.append(
                {
                    "pools": pools,
                    "tasks": tasks,
                    "stock_tasks_per_s": med("stock", "tasks_per_s"),
                    "affinity_tasks_per_s": med("affinity", "tasks_per_s"),
                    "ratio": ratio,
                    "pair_ratios": pair_ratios,
                    "meets_target": ratio >= POOLS_TARGET_RATIO,
                    **{
                        f"{what}_cpu_ms_per_task": {k: med(k, f"{what}_ms") for k in KINDS}
                        for what in ("interchange", "driver", "sim")
                    },
                    "runs": {k: [{n: round(v, 4) for n, v in r.items()} for r in runs[k]] for k in KINDS},
                }
            )

    print()
    headers = [
        "pools",
        "tasks",
        "stock tasks/s",
        "affinity tasks/s",
        "ratio",
        f"target >= {POOLS_TARGET_RATIO}",
        "ix CPU ms/task stock",
        "affinity",
        "driver ms/task stock",
        "affinity",
        "pair ratios",
    ]
    rows = [
        [
            s["pools"],
            s["tasks"],
            f"{s['stock_tasks_per_s']:.1f}",
            f"{s['affinity_tasks_per_s']:.1f}",
            s["ratio"],
            "met" if s["meets_target"] else "MISSED",
            s["interchange_cpu_ms_per_task"]["stock"],
            s["interchange_cpu_ms_per_task"]["affinity"],
            s["driver_cpu_ms_per_task"]["stock"],
            s["driver_cpu_ms_per_task"]["affinity"],
            " ".join(f"{p:.3f}" for p in s["pair_ratios"]),
        ]
        for s in per_size
    ]
    print(format_table(headers, rows))
    summary = {
        "benchmark": "dispatch_pools",
        "sizes": sizes,
        "rounds": rounds,
        "warmup": args.warmup,
        "workers_per_pool": args.workers_per_pool,
        "managers_per_helper": args.managers_per_helper,
        "sim_poller": args.sim_poller,
        "affinity_interchange_sha256": _interchange_sha256(),
        "target": POOLS_TARGET_RATIO,
        "meets_target": all(s["meets_target"] for s in per_size),
        "results": [_rounded(s) for s in per_size],
        "wall_s": round(time.perf_counter() - began, 1),
        "machine": machine_info(),
    }
    print(json.dumps(summary))
    return summary


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _parse_pools(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pools takes comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--pools needs sizes >= 1, got {text!r}")
    return sizes


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tasks",
        type=int,
        default=None,
        help="no-op tasks per run (default 10000; with --pools 20000 up to 100 pools, 5000 above)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="stock+affinity run pairs (default 3); with --pools, stock/affinity/affinity/stock quadruples (default 1)",
    )
    parser.add_argument("--warmup", type=int, default=500, help="untimed tasks per run first (default 500)")
    parser.add_argument(
        "--pools",
        type=_parse_pools,
        default=None,
        help="pool-scaling mode: comma-separated numbers of simulated pools, e.g. 1,100,1000",
    )
    parser.add_argument(
        "--workers-per-pool", type=int, default=4, help="--pools: workers (= capacity) per simulated pool (4)"
    )
    parser.add_argument(
        "--managers-per-helper",
        type=int,
        default=1000,
        help="--pools: simulated managers per helper process (1000)",
    )
    parser.add_argument(
        "--sim-poller",
        choices=("epoll", "zmq"),
        default="epoll",
        help="--pools: how a helper waits on its sockets (epoll: O(ready), zmq: one zmq.Poller, O(sockets))",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=240.0, help="--pools: seconds one run may take (240)"
    )
    args = parser.parse_args(argv)
    if (
        (args.tasks is not None and args.tasks < 1)
        or (args.rounds is not None and args.rounds < 1)
        or args.warmup < 0
    ):
        parser.error(
            f"need --tasks >= 1, --rounds >= 1, --warmup >= 0; got {args.tasks}, {args.rounds}, {args.warmup}"
        )
    if args.workers_per_pool < 1 or args.managers_per_helper < 1 or args.run_timeout <= 0:
        parser.error("need --workers-per-pool >= 1, --managers-per-helper >= 1 and --run-timeout > 0")
    if args.pools is not None:
        return main_pools(args, args.pools)
    args.tasks = 10_000 if args.tasks is None else args.tasks
    args.rounds = 3 if args.rounds is None else args.rounds

    # No PYTHONPATH export: the affinity executor and its virtual cluster hand their children (interchange,
    # pools) our import path themselves; the stock ones run only parsl.

    results: dict[str, list[float]] = {"stock": [], "affinity": []}
    cpu: dict[str, list[tuple[float, float]]] = {"stock": [], "affinity": []}
    with tempfile.TemporaryDirectory(prefix="bench_dispatch_") as tmp:
        for round_no in range(args.rounds):
            # ABBA order across rounds, so drifting machine load does not favour one executor
            order = ("stock", "affinity") if round_no % 2 == 0 else ("affinity", "stock")
            for kind in order:
                rate, driver_ms, interchange_ms = run_once(
                    kind, args.tasks, os.path.join(tmp, "runinfo"), args.warmup
                )
                results[kind].append(rate)
                cpu[kind].append((driver_ms, interchange_ms))
                print(
                    f"round {round_no + 1}/{args.rounds} {kind:>8}: {rate:8.1f} tasks/s, CPU ms/task: "
                    f"driver {driver_ms:.3f}, interchange {interchange_ms:.3f}",
                    flush=True,
                )

    stock, affinity = statistics.median(results["stock"]), statistics.median(results["affinity"])
    ratio = affinity / stock
    print()
    cpu_median = {
        kind: (statistics.median(d for d, _ in cpu[kind]), statistics.median(i for _, i in cpu[kind]))
        for kind in cpu
    }
    print(
        f"{'executor':<10} {'median tasks/s':>15} {'driver ms/task':>15} {'ix ms/task':>11}   runs (tasks/s)"
    )
    for kind, median in (("stock", stock), ("affinity", affinity)):
        runs = ", ".join(f"{r:.1f}" for r in results[kind])
        print(
            f"{kind:<10} {median:>15.1f} {cpu_median[kind][0]:>15.3f} {cpu_median[kind][1]:>11.3f}   {runs}"
        )
    print(f"{'ratio':<10} {ratio:>15.3f}   (target >= {TARGET_RATIO})")
    summary = {
        "benchmark": "dispatch",
        "tasks": args.tasks,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "pair_ratios": [round(a / s, 4) for s, a in zip(results["stock"], results["affinity"], strict=True)],
        "stock_tasks_per_s": [round(r, 1) for r in results["stock"]],
        "affinity_tasks_per_s": [round(r, 1) for r in results["affinity"]],
        "driver_cpu_ms_per_task": {k: round(v[0], 3) for k, v in cpu_median.items()},
        "interchange_cpu_ms_per_task": {k: round(v[1], 3) for k, v in cpu_median.items()},
        "ratio": round(ratio, 4),
        "target": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    if sys.argv[1:2] == [SIM_HELPER_FLAG]:
        sim_helper(json.loads(sys.argv[2]))
    else:
        main()
