"""Planned and actual node of each task in Parsl's monitoring database (``Config(monitoring=MonitoringHub())``).

Parsl 2026.10.26's monitoring schema (``parsl/monitoring/db_manager.py``) has no column that fits: the
``task`` table has no free-form field, and ``try.hostname`` is the worker's host, not a node name (several
virtual nodes may share one host). So saga-dfk adds ONE documented table to the same database, written
once in ``cleanup()`` after Parsl's database manager has stopped (no concurrent writer)::

    saga_task(run_id TEXT, task_id INTEGER, function TEXT, label TEXT,
              planned_node TEXT, planned_start REAL, planned_end REAL, plan_round INTEGER,
              actual_node TEXT, actual_hostname TEXT, actual_start REAL, actual_end REAL,
              replans INTEGER, outcome TEXT, PRIMARY KEY (run_id, task_id))

Times are seconds on the plan clock (add ``t0``, the report's epoch, for wall time). Join with Parsl's
tables on ``(run_id, task_id)``. Only SQLite URLs (Parsl's default, ``sqlite:///...``) are written;
another database URL is skipped with a log line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["TABLE", "sqlite_path", "write_placements"]

TABLE: Final = "saga_task"

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id TEXT NOT NULL, task_id INTEGER NOT NULL, function TEXT, label TEXT,
    planned_node TEXT, planned_start REAL, planned_end REAL, plan_round INTEGER,
    actual_node TEXT, actual_hostname TEXT, actual_start REAL, actual_end REAL,
    replans INTEGER NOT NULL DEFAULT 0, outcome TEXT,
    PRIMARY KEY (run_id, task_id)
)
"""


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL; None for any other URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        return None
    return Path(url[len(prefix) :])


def write_placements(url: str, run_id: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert (or replace) one ``saga_task`` row per run-report row; returns how many rows were written."""
    path = sqlite_path(url)
    if path is None:
        raise ValueError(f"not a SQLite URL: {url!r}")
    values = []
    for row in rows:
        p, a = row.get("planned") or {}, row.get("actual") or {}
        values.append(
            (
                run_id,
                int(row["id"]),
                row.get("function"),
                row.get("label"),
                p.get("node"),
                p.get("start"),
                p.get("end"),
                p.get("round"),
                a.get("node"),
                a.get("hostname"),
                a.get("start"),
                a.get("end"),
                len(row.get("replanned") or ()),
                row.get("outcome"),
            )
        )
    with sqlite3.connect(path, timeout=30) as db:
        db.execute(_SCHEMA)
        db.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES ({', '.join('?' * 14)})", values)
    return len(values)
