"""Logging set-up for the child processes this package starts (interchange, worker pools).

The library never configures logging in the user's driver process (its package logger has only a
NullHandler). The children, however, are ours: their stdout and stderr are the user's terminal (Popen
inherits them), so their key=value events go to a file next to upstream's own logs instead, through a
standard-library FileHandler on the ``parsl_affinity_htex`` logger that does not propagate to the root.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = ["CHILD_LOG_FORMAT", "configure_child_logging", "parsl_log"]

#: Standard-library logger for what belongs in the run's ``parsl.log`` (Parsl's file handler sits on "parsl").
parsl_log = logging.getLogger("parsl").getChild("affinity_htex")

#: One event a line: ``ts=... level=INFO logger=parsl_affinity_htex.interchange pid=123 node.joined node=a``.
CHILD_LOG_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d %(message)s"


class _UtcFormatter(logging.Formatter):
    """ISO-like UTC timestamps (``2026-12-01 11:05:36,123Z``): pools on other hosts log on one clock."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed: gmtime(secs=None) is the same callable
    default_msec_format = "%s,%03dZ"


def configure_child_logging(path: str, level: int = logging.DEBUG) -> logging.Handler:
    """Send this process's ``parsl_affinity_htex.*`` events, key=value a line, to ``path`` (appending)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(_UtcFormatter(CHILD_LOG_FORMAT))
    handler.setLevel(level)
    package = logging.getLogger("parsl_affinity_htex")
    package.addHandler(handler)
    package.setLevel(level)
    package.propagate = False  # never the inherited terminal, whatever the root logger has
    return handler
