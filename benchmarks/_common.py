"""Helpers shared by bench_makespan.py and bench_overhead.py: quiet logs, child PYTHONPATH, tables, machine facts.

Why a module: both benchmarks start real Parsl processes (interchange, worker pools) that import first-party
modules with ``python -m``; under ``./pants run`` those modules exist only on this process's ``sys.path``, so
every benchmark must export it the same way. The table and machine-info code keeps their output uniform.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

import saga_graphs

__all__ = [
    "TableCostModel",
    "export_pythonpath",
    "format_table",
    "machine_info",
    "quiet_logging",
]


def quiet_logging() -> None:
    """Only warnings from structlog (task.assigned etc. per task would swamp the table and cost CPU)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger().setLevel(logging.WARNING)


def export_pythonpath() -> str:
    """Set PYTHONPATH to our absolute ``sys.path`` so child processes see first-party code (Pants PEX)."""
    paths = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    os.environ.setdefault("HOME", "/tmp")
    return os.environ["PYTHONPATH"]


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


class TableCostModel(saga_graphs.CostModel):
    """Cost and output size per Parsl task id, declared after submit and before ``dfk.execute()``.

    Why not ``DeclaredCostModel``: that one is frozen at construction, but a benchmark runs several
    workflows in one kernel and learns the task ids only when it submits them. Undeclared tasks cost
    ``default_cost`` and output nothing.
    """

    def __init__(self, default_cost: float = 0.1) -> None:
        self._default = float(default_cost)
        self._table: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def declare(self, task_id: int | str, cost: float, output_size: float) -> None:
        """Declare one task: ``cost`` seconds on a speed-1 core, ``output_size`` bytes of result."""
        if not cost >= 0 or not output_size >= 0:
            raise ValueError(
                f"task {task_id!r}: cost and output_size must be >= 0, got {cost!r}, {output_size!r}"
            )
        with self._lock:
            self._table[str(task_id)] = (float(cost), float(output_size))

    def declare_many(self, entries: Mapping[int, tuple[float, float]]) -> None:
        """Declare ``{task_id: (cost, output_size)}``."""
        for task_id, (cost, size) in entries.items():
            self.declare(task_id, cost, size)

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        with self._lock:
            return self._table.get(str(task_id), (self._default, 0.0))[0]

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        with self._lock:
            return self._table.get(str(task_id), (self._default, 0.0))[1]
