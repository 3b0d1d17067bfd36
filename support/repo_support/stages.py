"""The synthetic workflows of the end-to-end tiers (infra/kind/e2e_tests) and the makespan benchmark
(benchmarks/bench_makespan.py): tasks that sleep and emit a payload, and the check that each task got its
parents' payloads whole."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = ["Stage", "gather_results"]


class Stage(NamedTuple):
    """One task: sleep ``seconds`` (on a speed-1 core), emit ``out_bytes``; its parents by name."""

    name: str
    seconds: float
    out_bytes: int
    parents: tuple[str, ...] = ()


def gather_results(
    workflow: Sequence[Stage], futures: Mapping[str, Any], timeout: float
) -> dict[str, dict[str, Any]]:
    """Wait for every future (raising the first task error; ``timeout`` seconds for all), check each task
    received its parents' ``out_bytes`` (its result's ``input_sizes``); name -> result without ``payload``."""
    by_name = {s.name: s for s in workflow}
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    for name, future in futures.items():
        result = future.result(timeout=max(1.0, deadline - time.monotonic()))
        expected = [by_name[p].out_bytes for p in by_name[name].parents]
        if result["input_sizes"] != expected:
            raise AssertionError(
                f"task {name} got inputs of {result['input_sizes']} bytes, expected {expected}"
            )
        results[name] = {k: v for k, v in result.items() if k != "payload"}
    return results
