"""structlog set-up for the child processes this package starts (interchange, worker pools).

The library never configures structlog in the user's driver process. The children, however, are ours: their
stdout is the user's terminal (Popen inherits it), so their structured events go to a file next to upstream's
own logs instead.
"""

from __future__ import annotations

import logging
import os
from typing import IO

import structlog

__all__ = ["configure_child_logging", "parsl_log"]

#: Standard-library logger for what belongs in the run's ``parsl.log`` (Parsl's file handler sits on "parsl").
parsl_log = logging.getLogger("parsl").getChild("affinity_htex")

_log_file: IO[str] | None = None


def configure_child_logging(path: str) -> None:
    """Send this process's structlog events, one JSON object a line, to ``path`` (appending)."""
    global _log_file
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    _log_file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=repr),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=_log_file),
        cache_logger_on_first_use=True,
    )
