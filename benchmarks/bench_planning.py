"""Planning benchmark: saga-graphs' fast HEFT against SAGA 2.1.0's HeftScheduler, side by side.

Why: a planner slower than the time it saves is useless at scale (issue 8). Both schedulers get
the same freshly built SAGA objects (construction is not timed; SAGA's ``TaskGraph.create`` is
avoided because it is O(V*E)), and CPU time (``time.process_time``) is the median of N runs. The
fast HEFT's schedule is checked against SAGA's on every case, so a speed-up never hides a
different plan.

Run (from the repository root):
    ./pants run benchmarks/bench_planning.py                 # the issue's sizes (~2-4 min)
    ./pants run benchmarks/bench_planning.py -- --quick      # small sizes, under a minute
    PYTHONPATH=packages/saga-graphs/src python benchmarks/bench_planning.py [--quick]

Prints a table, then one JSON line (``{"benchmark": "planning", ...}``) with the ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import saga
import structlog
from saga import NetworkEdge, NetworkNode, TaskGraphEdge, TaskGraphNode
from saga.schedulers import HeftScheduler
from saga.schedulers.cpop import upward_rank

from saga_graphs._fast_heft import fast_heft

FULL_SIZES = [(1000, 4), (1000, 16), (1000, 64), (5000, 4), (5000, 16), (5000, 64)]
QUICK_SIZES = [(200, 4), (200, 16), (1000, 4), (1000, 16)]
FAST_ONLY_FULL = [(50_000, 128)]
FAST_ONLY_QUICK = [(5000, 64)]

# Issue 8's targets.
TARGET_5000x64_SECONDS = 1.0
TARGET_5000x64_RATIO = 25.0
TARGET_50000x128_SECONDS = 30.0


def build_problem(tasks: int, nodes: int, seed: int) -> tuple[saga.Network, saga.TaskGraph]:
    """A seeded layered workflow on a heterogeneous cluster, as SAGA objects built directly.

    Layers of about sqrt(tasks) tasks; each task reads from up to 3 tasks of the layer above.
    Costs 1-10 s on a speed-1 core, outputs up to 100 MB; node speeds 0.5-2 (continuous, so
    node ties are rare and SAGA's frozenset node order does not matter); links 1 or 10 Gbit/s
    in bytes/s; a node to itself is free (a large finite speed, as saga-graphs uses).
    """
    rng = random.Random(seed)
    names = [f"task-{i}" for i in range(tasks)]
    width = max(1, int(math.sqrt(tasks)))
    task_set = frozenset(TaskGraphNode(name=name, cost=rng.uniform(1.0, 10.0)) for name in names)
    deps = set()
    for i in range(width, tasks):
        above = (i // width - 1) * width
        for j in rng.sample(range(above, above + width), min(3, width)):
            deps.add(TaskGraphEdge(source=names[j], target=names[i], size=rng.uniform(0.0, 1e8)))
    node_list = [NetworkNode(name=f"node-{k:03d}", speed=rng.uniform(0.5, 2.0)) for k in range(nodes)]
    links = [
        NetworkEdge(
            source=node_list[a].name,
            target=node_list[b].name,
            speed=1e15 if a == b else rng.choice([1.25e8, 1.25e9]),
        )
        for a in range(nodes)
        for b in range(a, nodes)
    ]
    network = saga.Network(nodes=frozenset(node_list), edges=frozenset(links))
    return network, saga.TaskGraph(tasks=task_set, dependencies=frozenset(deps))


def run_fast(network: saga.Network, task_graph: saga.TaskGraph) -> saga.Schedule:
    return fast_heft(network, task_graph)


def run_saga(network: saga.Network, task_graph: saga.TaskGraph) -> saga.Schedule:
    # SAGA memoises upward ranks per (network, task graph) without bound; start cold every run.
    upward_rank.cache_clear()
    return HeftScheduler().schedule(network, task_graph)


def timed(
    scheduler: Callable[[saga.Network, saga.TaskGraph], saga.Schedule], tasks: int, nodes: int, repeats: int
) -> tuple[float, list[float], saga.Schedule]:
    """Median CPU seconds over `repeats` runs, each on freshly built objects (no warm caches)."""
    samples = []
    result = None
    for _ in range(repeats):
        network, task_graph = build_problem(tasks, nodes, seed=tasks * 1000 + nodes)
        gc.collect()
        began = time.process_time()
        result = scheduler(network, task_graph)
        samples.append(time.process_time() - began)
    assert result is not None
    return statistics.median(samples), samples, result


def compare(fast: saga.Schedule, reference: saga.Schedule) -> tuple[bool, float]:
    """(same task -> node placement, relative makespan difference)."""
    ours = {t.name: t.node for tasks in fast.mapping.values() for t in tasks}
    theirs = {t.name: t.node for tasks in reference.mapping.values() for t in tasks}
    diff = abs(fast.makespan - reference.makespan) / max(reference.makespan, 1e-300)
    return ours == theirs, diff


@dataclass
class Case:
    tasks: int
    nodes: int
    fast_cpu_s: float
    fast_samples: list[float]
    saga_cpu_s: float | None = None
    saga_samples: list[float] | None = None
    speedup: float | None = None
    same_placements: bool | None = None
    makespan_rel_diff: float | None = None
    makespan: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run), not the issue's")
    parser.add_argument("--repeats", type=int, default=5, help="fast HEFT runs per case (median)")
    parser.add_argument("--saga-repeats", type=int, default=1, help="SAGA runs per case (median; slow)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.saga_repeats < 1:
        parser.error(f"repeats must be >= 1, got --repeats {args.repeats} --saga-repeats {args.saga_repeats}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    fast_only = FAST_ONLY_QUICK if args.quick else FAST_ONLY_FULL
    cases: list[Case] = []
    for tasks, nodes in sizes:
        fast_s, fast_samples, fast_result = timed(run_fast, tasks, nodes, args.repeats)
        saga_s, saga_samples, saga_result = timed(run_saga, tasks, nodes, args.saga_repeats)
        same, diff = compare(fast_result, saga_result)
        case = Case(tasks, nodes, fast_s, fast_samples, saga_s, saga_samples, saga_s / fast_s, same, diff)
        case.makespan = fast_result.makespan
        cases.append(case)
        print(f"  measured {tasks} x {nodes}: fast {fast_s:.3f} s, SAGA {saga_s:.3f} s", file=sys.stderr)
    for tasks, nodes in fast_only:
        fast_s, fast_samples, fast_result = timed(run_fast, tasks, nodes, max(1, min(args.repeats, 3)))
        case = Case(tasks, nodes, fast_s, fast_samples)
        case.makespan = fast_result.makespan
        cases.append(case)
        print(f"  measured {tasks} x {nodes}: fast {fast_s:.3f} s", file=sys.stderr)

    targets: dict[str, dict[str, object]] = {}
    for case in cases:
        if (case.tasks, case.nodes) == (5000, 64):
            targets["5000x64_fast_cpu_s"] = {
                "target": f"<= {TARGET_5000x64_SECONDS}",
                "value": round(case.fast_cpu_s, 4),
                "met": case.fast_cpu_s <= TARGET_5000x64_SECONDS,
            }
            if case.speedup is not None:
                targets["5000x64_speedup"] = {
                    "target": f">= {TARGET_5000x64_RATIO}",
                    "value": round(case.speedup, 1),
                    "met": case.speedup >= TARGET_5000x64_RATIO,
                }
        if (case.tasks, case.nodes) == (50_000, 128):
            targets["50000x128_fast_cpu_s"] = {
                "target": f"<= {TARGET_50000x128_SECONDS}",
                "value": round(case.fast_cpu_s, 3),
                "met": case.fast_cpu_s <= TARGET_50000x128_SECONDS,
            }

    print()
    print("Planning CPU time, median (fast HEFT vs SAGA 2.1.0 HeftScheduler, same problems, same run)")
    header = f"{'tasks':>7} {'nodes':>5} {'fast s':>9} {'SAGA s':>9} {'speedup':>8} {'same plan':>9} {'makespan diff':>13}"
    print(header)
    print("-" * len(header))
    for c in cases:
        saga_col = f"{c.saga_cpu_s:9.3f}" if c.saga_cpu_s is not None else f"{'-':>9}"
        speed_col = f"{c.speedup:7.1f}x" if c.speedup is not None else f"{'-':>8}"
        same_col = (
            f"{'yes' if c.same_placements else 'NO':>9}" if c.same_placements is not None else f"{'-':>9}"
        )
        diff_col = f"{c.makespan_rel_diff:13.1e}" if c.makespan_rel_diff is not None else f"{'-':>13}"
        print(f"{c.tasks:>7} {c.nodes:>5} {c.fast_cpu_s:9.3f} {saga_col} {speed_col} {same_col} {diff_col}")
    for name, target in targets.items():
        print(
            f"target {name}: {target['value']} (want {target['target']}): {'met' if target['met'] else 'MISSED'}"
        )
    record = {
        "benchmark": "planning",
        "mode": "quick" if args.quick else "full",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "repeats": {"fast": args.repeats, "saga": args.saga_repeats},
        "cases": [asdict(c) for c in cases],
        "targets": targets,
        "all_targets_met": all(bool(t["met"]) for t in targets.values()) if targets else None,
        "all_plans_identical": all(c.same_placements for c in cases if c.same_placements is not None),
    }
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
