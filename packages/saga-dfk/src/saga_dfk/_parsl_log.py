"""saga-dfk's events, and those of the three packages it is made of, in the run's ``parsl.log``.

Parsl's DataFlowKernel adds its file handler to the ``"parsl"`` logger when it starts; our libraries log
under their own package loggers (``saga_dfk``, ``saga_graphs``, ...), which that handler does not see.
:class:`ParslLogBridge` attaches the handler(s) Parsl added to those loggers for the kernel's lifetime
(like Parsl's own ``FileLogging`` does for ``concurrent.futures``), lowering a logger's level to the
handler's only when the application left it unset, and undoes both at cleanup.
"""

from __future__ import annotations

import logging

__all__ = ["LIBRARY_LOGGERS", "ParslLogBridge"]

#: The package loggers whose events belong beside Parsl's.
LIBRARY_LOGGERS = ("saga_dfk", "saga_graphs", "parsl_affinity_htex", "k8s_topology")


class ParslLogBridge:
    """Create before ``DataFlowKernel.__init__`` (to tell Parsl's new handlers from older ones)."""

    def __init__(self) -> None:
        self._before = set(logging.getLogger("parsl").handlers)
        self._handlers: list[logging.Handler] = []
        self._levels: dict[str, int] = {}  # logger name -> the level it had before (only those we lowered)
        self._done = False

    @property
    def handlers(self) -> list[logging.Handler]:
        return list(self._handlers)

    def attach(self) -> None:
        """Attach the handlers Parsl added since construction (none with ``initialize_logging=False``)."""
        if self._done or self._handlers:
            return
        self._handlers = [h for h in logging.getLogger("parsl").handlers if h not in self._before]
        if not self._handlers:
            return
        level = min(h.level for h in self._handlers) or logging.DEBUG
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            for handler in self._handlers:
                logger.addHandler(handler)
            if logger.level == logging.NOTSET:
                self._levels[name] = logger.level
                logger.setLevel(level)

    def detach(self) -> None:
        """Remove the handlers and restore the levels (idempotent)."""
        self._done = True
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            for handler in self._handlers:
                logger.removeHandler(handler)
            if name in self._levels:
                logger.setLevel(self._levels.pop(name))
        self._handlers = []
