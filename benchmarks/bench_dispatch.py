"""Dispatch benchmark: stock HighThroughputExecutor vs AffinityHighThroughputExecutor with every task tagged.

Each run starts a fresh DataFlowKernel with two local worker pools of two workers each (stock: LocalProvider with
two blocks; affinity: a LocalVirtualCluster with node-a and node-b, tasks tagged to them alternately), waits until
both pools have registered, then times N no-op tasks from the first submit to the last result. Runs alternate
(stock, affinity, affinity, stock, ...) in this one process tree so machine noise hits both alike. Prints a table
and one JSON line with the median throughput ratio (target >= 0.95).

    ./pants run benchmarks/bench_dispatch.py -- --tasks 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import parsl
import psutil
import structlog
from parsl import python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
from parsl.providers import LocalProvider

from parsl_affinity_htex import LocalVirtualCluster

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
    return LocalVirtualCluster(NODES).executor(label="affinity")


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


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
    executor = _stock_executor() if kind == "stock" else _affinity_executor()
    dfk = parsl.load(Config(executors=[executor], strategy="none", strategy_period=0.5, run_dir=run_dir))
    try:
        _wait(lambda: len(executor.connected_managers()) == 2, 180, f"{kind}: two pools to register")
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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000, help="no-op tasks per run (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="stock+affinity run pairs (default 3)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed tasks per run first (default 500)")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error(
            f"need --tasks >= 1, --rounds >= 1, --warmup >= 0; got {args.tasks}, {args.rounds}, {args.warmup}"
        )

    # Children run `python -m parsl_affinity_htex...`; under `pants run` (a PEX) they find first-party code only
    # through PYTHONPATH.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

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
    main()
