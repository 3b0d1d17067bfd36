"""Planning benchmark: ``saga_graphs.plan(..., "HEFT")`` end to end against SAGA 2.1.0's HeftScheduler.

Why: a planner slower than the time it saves is useless at scale (issues 8 and "one shape per
concept"). What is timed, CPU (``time.process_time``), median of N runs:

* ours: one public ``saga_graphs.plan(task_graph, network, "HEFT")`` call on a task graph and a
  network built with the public API (``TaskGraph.add_task``/``add_dependency``,
  ``Network.add_node``/``set_bandwidth``). Everything a caller pays is inside: input checks, the
  slot-level problem, the fast HEFT, mapping back to (node, slot) and the independent validity
  check. Building the graph and network is timed too and shown in its own column.
* SAGA: ``HeftScheduler().schedule(network, task_graph)`` on the same problem as SAGA objects built
  directly (not timed; SAGA's ``TaskGraph.create`` is O(V*E)), with its rank cache cleared. It runs
  in a child process with ``PYTHONHASHSEED=0``: SAGA breaks equal-rank and equal-finish ties in
  ``frozenset`` order, i.e. by hash seed, so a fixed seed makes the reference reproducible. The
  problems are built so that ties are rare (continuous random costs, sizes and node speeds).

Every compared case checks that ``plan()`` gives SAGA's makespan exactly and the same task -> node
placements, so a speed-up never hides a different plan. Only public names are used (``saga_graphs``
and ``saga``).

Run (from the repository root):
    ./pants run benchmarks/bench_planning.py                 # the target sizes (~2-3 min)
    ./pants run benchmarks/bench_planning.py -- --quick      # small sizes, under a minute
    PYTHONPATH=packages/saga-graphs/src python benchmarks/bench_planning.py [--quick]

Prints a table, then one JSON line (``{"benchmark": "planning", ...}``) with the ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import saga_graphs

FULL_SIZES = [(1000, 4), (1000, 16), (1000, 64), (5000, 4), (5000, 16), (5000, 64)]
QUICK_SIZES = [(200, 4), (200, 16), (1000, 4), (1000, 16)]
OURS_ONLY_FULL = [(50_000, 128)]
OURS_ONLY_QUICK = [(5000, 64)]

# Targets: plan() end to end at 5,000 tasks x 64 nodes within TARGET_5000x64_SECONDS, at least
# TARGET_5000x64_RATIO times faster than SAGA's HEFT on the same problem, and 50,000 x 128 within
# TARGET_50000x128_SECONDS.
TARGET_5000x64_SECONDS = 0.3
TARGET_5000x64_RATIO = 25.0
TARGET_50000x128_SECONDS = 30.0

#: SAGA's hash seed in the reference run (see the module docstring).
SAGA_HASH_SEED = "0"
#: The bandwidth saga-graphs gives a processor's link to itself ("free", README "Slots"); the SAGA
#: reference gets the same, so both rank with the same mean transfer times.
FREE_BANDWIDTH = 1e30


@dataclass(frozen=True)
class ProblemData:
    """A problem as plain lists, so both sides build their own objects from the same numbers."""

    tasks: list[tuple[str, float]]
    dependencies: list[tuple[str, str, float]]
    nodes: list[tuple[str, float]]
    links: list[tuple[str, str, float]]


def problem_data(tasks: int, nodes: int) -> ProblemData:
    """A seeded layered workflow on a heterogeneous cluster.

    Layers of about sqrt(tasks) tasks; each task reads from up to 3 tasks of the layer above.
    Costs 1-10 s on a speed-1 core, outputs up to 100 MB; node speeds 0.5-2 (continuous, so node
    ties are rare); links 1 or 10 Gbit/s in bytes/s between every pair of nodes; one slot per node.
    """
    rng = random.Random(tasks * 1000 + nodes)
    names = [f"task-{i}" for i in range(tasks)]
    width = max(1, int(math.sqrt(tasks)))
    task_list = [(name, rng.uniform(1.0, 10.0)) for name in names]
    deps = []
    for i in range(width, tasks):
        above = (i // width - 1) * width
        for j in rng.sample(range(above, above + width), min(3, width)):
            deps.append((names[j], names[i], rng.uniform(0.0, 1e8)))
    node_list = [(f"node-{k:03d}", rng.uniform(0.5, 2.0)) for k in range(nodes)]
    links = [
        (node_list[a][0], node_list[b][0], rng.choice([1.25e8, 1.25e9]))
        for a in range(nodes)
        for b in range(a + 1, nodes)
    ]
    return ProblemData(task_list, deps, node_list, links)


def build_ours(data: ProblemData) -> tuple[saga_graphs.TaskGraph, saga_graphs.Network]:
    """The problem through saga-graphs' public API, as a caller builds it."""
    graph = saga_graphs.TaskGraph()
    for name, cost in data.tasks:
        graph.add_task(name, cost)
    for parent, child, size in data.dependencies:
        graph.add_dependency(parent, child, size)
    network = saga_graphs.Network()
    for name, speed in data.nodes:
        network.add_node(name, slots=1, speed=speed)
    for a, b, bandwidth in data.links:
        network.set_bandwidth(a, b, bandwidth)
    return graph, network


@dataclass
class OursRun:
    plan_cpu_s: float
    plan_samples: list[float]
    build_cpu_s: float
    makespan: float
    placements: dict[str, str]


def time_ours(tasks: int, nodes: int, repeats: int) -> OursRun:
    """Median CPU seconds of plan() over `repeats` runs, each on freshly built objects."""
    data = problem_data(tasks, nodes)
    samples, builds = [], []
    schedule = None
    for _ in range(repeats):
        gc.collect()
        began = time.process_time()
        graph, network = build_ours(data)
        builds.append(time.process_time() - began)
        gc.collect()
        began = time.process_time()
        schedule = saga_graphs.plan(graph, network, "HEFT")
        samples.append(time.process_time() - began)
    assert schedule is not None
    return OursRun(
        statistics.median(samples),
        samples,
        statistics.median(builds),
        schedule.makespan,
        {t: p.node for t, p in schedule.placements.items()},
    )


# -- the SAGA reference (child process) -----------------------------------------------------------


def saga_child(request: str) -> int:
    """Child process: time SAGA's HeftScheduler on each case; one JSON line per case on stdout."""
    import saga
    from saga.schedulers import HeftScheduler
    from saga.schedulers.cpop import upward_rank

    spec = json.loads(request)
    for tasks, nodes in spec["cases"]:
        data = problem_data(tasks, nodes)
        samples = []
        result = None
        for _ in range(spec["repeats"]):
            names = [n for n, _ in data.nodes]
            network = saga.Network(
                nodes=frozenset(saga.NetworkNode(name=n, speed=s) for n, s in data.nodes),
                edges=frozenset(
                    [saga.NetworkEdge(source=a, target=b, speed=bw) for a, b, bw in data.links]
                    + [saga.NetworkEdge(source=n, target=n, speed=FREE_BANDWIDTH) for n in names]
                ),
            )
            task_graph = saga.TaskGraph(
                tasks=frozenset(saga.TaskGraphNode(name=t, cost=c) for t, c in data.tasks),
                dependencies=frozenset(
                    saga.TaskGraphEdge(source=p, target=c, size=s) for p, c, s in data.dependencies
                ),
            )
            # SAGA memoises upward ranks per (network, task graph) without bound; start cold.
            upward_rank.cache_clear()
            gc.collect()
            began = time.process_time()
            result = HeftScheduler().schedule(network, task_graph)
            samples.append(time.process_time() - began)
        assert result is not None
        placements = {t.name: t.node for ts in result.mapping.values() for t in ts}
        print(f"  measured SAGA {tasks} x {nodes}: {statistics.median(samples):.3f} s", file=sys.stderr)
        row = {
            "case": [tasks, nodes],
            "samples": samples,
            "makespan": result.makespan,
            "placements": placements,
        }
        print(json.dumps(row))
        sys.stdout.flush()
    return 0


def run_saga_reference(cases: list[tuple[int, int]], repeats: int) -> dict[tuple[int, int], dict[str, Any]]:
    """SAGA's HeftScheduler on every case, in one child process with a fixed hash seed."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(
        os.environ,
        PYTHONHASHSEED=SAGA_HASH_SEED,
        PYTHONPATH=os.pathsep.join([here, *(p for p in sys.path if p)]),
    )
    code = "import sys, bench_planning; sys.exit(bench_planning.saga_child(sys.argv[1]))"
    request = json.dumps({"cases": cases, "repeats": repeats})
    proc = subprocess.run(
        [sys.executable, "-c", code, request], env=env, stdout=subprocess.PIPE, text=True, check=True
    )
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith('{"case"'):
            row = json.loads(line)
            out[(row["case"][0], row["case"][1])] = row
    return out


# -- report ---------------------------------------------------------------------------------------


@dataclass
class Case:
    tasks: int
    nodes: int
    build_cpu_s: float
    plan_cpu_s: float
    plan_samples: list[float]
    makespan: float
    saga_cpu_s: float | None = None
    saga_samples: list[float] | None = None
    speedup: float | None = None
    same_makespan: bool | None = None
    same_placements: bool | None = None
    saga_makespan: float | None = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (CI smoke run), not the target ones"
    )
    parser.add_argument("--repeats", type=int, default=5, help="plan() runs per case (median)")
    parser.add_argument("--saga-repeats", type=int, default=1, help="SAGA runs per case (median; slow)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.saga_repeats < 1:
        parser.error(f"repeats must be >= 1, got --repeats {args.repeats} --saga-repeats {args.saga_repeats}")
    # What a deployment does: plan()'s info events filtered, not formatted and printed.

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    ours_only = OURS_ONLY_QUICK if args.quick else OURS_ONLY_FULL
    saga_graphs.plan(*build_ours(problem_data(50, 4)), "HEFT")  # imports and first-call costs
    cases: list[Case] = []
    placements: dict[tuple[int, int], dict[str, str]] = {}
    for tasks, nodes in [*sizes, *ours_only]:
        repeats = args.repeats if (tasks, nodes) in sizes else max(1, min(args.repeats, 3))
        ours = time_ours(tasks, nodes, repeats)
        cases.append(Case(tasks, nodes, ours.build_cpu_s, ours.plan_cpu_s, ours.plan_samples, ours.makespan))
        placements[(tasks, nodes)] = ours.placements
        print(f"  measured plan() {tasks} x {nodes}: {ours.plan_cpu_s:.3f} s", file=sys.stderr)
    reference = run_saga_reference(list(sizes), args.saga_repeats)
    for case in cases:
        ref = reference.get((case.tasks, case.nodes))
        if ref is None:
            continue
        case.saga_samples = ref["samples"]
        case.saga_cpu_s = statistics.median(ref["samples"])
        case.saga_makespan = ref["makespan"]
        case.speedup = case.saga_cpu_s / case.plan_cpu_s
        case.same_makespan = case.makespan == ref["makespan"]
        case.same_placements = placements[(case.tasks, case.nodes)] == ref["placements"]

    targets: dict[str, dict[str, object]] = {}
    for case in cases:
        if (case.tasks, case.nodes) == (5000, 64):
            targets["5000x64_plan_cpu_s"] = {
                "target": f"<= {TARGET_5000x64_SECONDS}",
                "value": round(case.plan_cpu_s, 4),
                "met": case.plan_cpu_s <= TARGET_5000x64_SECONDS,
            }
            if case.speedup is not None:
                targets["5000x64_speedup"] = {
                    "target": f">= {TARGET_5000x64_RATIO}",
                    "value": round(case.speedup, 1),
                    "met": case.speedup >= TARGET_5000x64_RATIO,
                }
                targets["5000x64_same_makespan_as_saga"] = {
                    "target": f"== SAGA HeftScheduler (PYTHONHASHSEED={SAGA_HASH_SEED})",
                    "value": case.makespan,
                    "met": bool(case.same_makespan),
                }
        if (case.tasks, case.nodes) == (50_000, 128):
            targets["50000x128_plan_cpu_s"] = {
                "target": f"<= {TARGET_50000x128_SECONDS}",
                "value": round(case.plan_cpu_s, 3),
                "met": case.plan_cpu_s <= TARGET_50000x128_SECONDS,
            }

    print()
    print(
        'Planning CPU time, median: saga_graphs.plan("HEFT") end to end vs SAGA 2.1.0 HeftScheduler '
        f"(PYTHONHASHSEED={SAGA_HASH_SEED}), same problems, same run"
    )
    header = (
        f"{'tasks':>7} {'nodes':>5} {'build s':>8} {'plan() s':>9} {'SAGA s':>9} {'speedup':>8} "
        f"{'makespan':>12} {'same makespan':>13} {'same plan':>9}"
    )
    print(header)
    print("-" * len(header))
    for c in cases:
        saga_col = f"{c.saga_cpu_s:9.3f}" if c.saga_cpu_s is not None else f"{'-':>9}"
        speed_col = f"{c.speedup:7.1f}x" if c.speedup is not None else f"{'-':>8}"

        def yes(flag: bool | None, width: int) -> str:
            return f"{'-' if flag is None else 'yes' if flag else 'NO':>{width}}"

        print(
            f"{c.tasks:>7} {c.nodes:>5} {c.build_cpu_s:8.3f} {c.plan_cpu_s:9.3f} {saga_col} {speed_col} "
            f"{c.makespan:12.3f} {yes(c.same_makespan, 13)} {yes(c.same_placements, 9)}"
        )
    for name, target in targets.items():
        print(
            f"target {name}: {target['value']} (want {target['target']}): {'met' if target['met'] else 'MISSED'}"
        )
    compared = [c for c in cases if c.same_makespan is not None]
    record = {
        "benchmark": "planning",
        "mode": "quick" if args.quick else "full",
        "measured": "saga_graphs.plan('HEFT') end to end (public API) vs saga HeftScheduler.schedule",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "repeats": {"plan": args.repeats, "saga": args.saga_repeats},
        "saga_hash_seed": SAGA_HASH_SEED,
        "cases": [asdict(c) for c in cases],
        "targets": targets,
        "all_targets_met": all(bool(t["met"]) for t in targets.values()) if targets else None,
        "all_makespans_equal": all(c.same_makespan for c in compared),
        "all_plans_identical": all(c.same_placements for c in compared),
    }
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
