"""Helpers shared by bench_makespan.py and bench_overhead.py: quiet logs, tables, machine facts.

Why a module: the table and machine-info code keeps their output uniform. Nothing here hands child processes
the import path: the processes the benchmarks start get it from their launcher (the executor's default
commands, the virtual cluster) or, started by hand, from ``repo_support.pools.child_env``.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Sequence
from typing import Any

__all__ = [
    "format_table",
    "machine_info",
    "quiet_logging",
]


def quiet_logging() -> None:
    """Only warnings (per-task events such as task.assigned would swamp the table and cost CPU)."""
    logging.getLogger().setLevel(logging.WARNING)


def machine_info() -> dict[str, Any]:
    """What the figures came from (the README quotes it)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A right-aligned plain-text table (first column left-aligned); floats get 3 significant decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return "-" if value is None else str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=False))
        ),
        "  ".join("-" * w for w in widths),
    ]
    for r in text:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=False))
            )
        )
    return "\n".join(lines)
