"""Data-plane threshold benchmark: from what result size on is a node store faster than the driver?

Why: ``DataPlane.threshold_bytes`` decides which results stay on their node. Below some size the proxy
(about 0.8 kB), the store round trips and the child's fetch cost more than sending the bytes through the
interchange; above it the store wins and the driver's load falls. This measures the crossover on the local
virtual cluster (2 nodes, 1 slot each, real redis-server node stores, real pools), side by side in one run.

For each size, ``--pairs`` producer -> consumer pairs run one after the other, producer on node-a and
consumer on node-b (the cross-node case; on one node the store is cheaper still), first with every result
sent through the driver (threshold above the size), then with every result kept in the node store
(threshold 1 byte), ABAB-alternated rounds. Figure: median seconds per pair and the ratio store / driver;
the bytes through the interchange per pair.

    ./pants run benchmarks/bench_threshold.py
    PYTHONPATH=$(ls -d packages/*/src | tr '\\n' ':')support:benchmarks python benchmarks/bench_threshold.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import parsl
from parsl import python_app
from parsl.config import Config

from parsl_affinity_htex import DataPlane, LocalVirtualCluster

SIZES = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]


@python_app
def produce(nbytes: int, parsl_resource_specification: dict[str, Any] | None = None) -> bytes:
    return bytes(nbytes)


@python_app
def consume(data: bytes, parsl_resource_specification: dict[str, Any] | None = None) -> int:
    return len(data)


def run(threshold: int, sizes: list[int], pairs: int) -> dict[int, tuple[float, float]]:
    """Median seconds per pair and interchange bytes per pair, per size, at ``threshold``."""
    executor = LocalVirtualCluster({"node-a": 1, "node-b": 1}).executor(
        label="threshold", encrypted=False, data_plane=DataPlane(threshold_bytes=threshold)
    )
    out: dict[int, tuple[float, float]] = {}
    dfk = parsl.load(Config(executors=[executor], strategy="none", run_dir=tempfile.mkdtemp()))
    try:
        deadline = time.monotonic() + 120
        while set(executor.connected_nodes()) != {"node-a", "node-b"}:
            if time.monotonic() > deadline:
                raise TimeoutError("pools did not register")
            time.sleep(0.2)
        a, b = {"node": "node-a", "affinity": "hard"}, {"node": "node-b", "affinity": "hard"}
        consume(produce(10, parsl_resource_specification=a), parsl_resource_specification=b).result()  # warm
        for size in sizes:
            times = []
            before = executor.affinity_stats().bytes_from_pools + executor.affinity_stats().bytes_to_pools
            for _ in range(pairs):
                started = time.perf_counter()
                assert (
                    consume(
                        produce(size, parsl_resource_specification=a), parsl_resource_specification=b
                    ).result()
                    == size
                )
                times.append(time.perf_counter() - started)
            stats = executor.affinity_stats()
            moved = stats.bytes_from_pools + stats.bytes_to_pools - before
            out[size] = (statistics.median(times), moved / pairs)
    finally:
        dfk.cleanup()
        parsl.clear()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    driver: dict[int, list[tuple[float, float]]] = {s: [] for s in SIZES}
    store: dict[int, list[tuple[float, float]]] = {s: [] for s in SIZES}
    for _ in range(args.rounds):
        for size, fig in run(1 << 40, SIZES, args.pairs).items():
            driver[size].append(fig)
        for size, fig in run(1, SIZES, args.pairs).items():
            store[size].append(fig)
    rows = []
    print(
        f"{'size':>9} {'driver s/pair':>14} {'store s/pair':>13} {'store/driver':>13} {'driver B/pair':>14} {'store B/pair':>13}"
    )
    for size in SIZES:
        d = statistics.median(t for t, _ in driver[size])
        s = statistics.median(t for t, _ in store[size])
        db = statistics.median(b for _, b in driver[size])
        sb = statistics.median(b for _, b in store[size])
        rows.append(
            {"size": size, "driver_s": d, "store_s": s, "ratio": s / d, "driver_bytes": db, "store_bytes": sb}
        )
        print(f"{size:>9} {d:>14.4f} {s:>13.4f} {s / d:>13.2f} {db:>14.0f} {sb:>13.0f}")
    print(json.dumps({"benchmark": "threshold", "pairs": args.pairs, "rounds": args.rounds, "rows": rows}))


if __name__ == "__main__":
    main()
