"""Key=value events through the standard-library logger of this package (no handler but a NullHandler).

``log.info("plan.done", scheduler="HEFT", tasks=6)`` emits, on ``logging.getLogger(__name__)``, the record
message ``plan.done scheduler=HEFT tasks=6``; the record also carries ``event`` and ``event_fields``
(the values unformatted) for handlers and tests. Nothing is formatted unless the level is enabled, and
nothing reaches stdout or stderr unless the application (or Parsl's run directory) adds a handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["PACKAGE_LOGGER", "EventLogger", "format_event", "get_logger"]

#: The package logger (e.g. ``saga_graphs``): a library adds a NullHandler to it and nothing else.
PACKAGE_LOGGER = logging.getLogger(__name__.rpartition(".")[0])
PACKAGE_LOGGER.addHandler(logging.NullHandler())

_PLAIN_UNSAFE = frozenset(" \"'=\n\r\t")


def _value(value: Any) -> str:
    if isinstance(value, str):
        if value and not _PLAIN_UNSAFE.intersection(value):
            return value
        return json.dumps(value)
    if value is None or isinstance(value, bool | int | float):
        return str(value)
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def format_event(event: str, fields: Mapping[str, Any]) -> str:
    """``format_event("plan.done", {"tasks": 6})`` -> ``"plan.done tasks=6"`` (strings quoted when needed)."""
    return " ".join([event, *(f"{key}={_value(value)}" for key, value in fields.items())])


class EventLogger:
    """A stdlib logger that takes an event name and key=value fields (the shape the call sites use)."""

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _emit(self, level: int, event: str, exc_info: Any, fields: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(
                level,
                format_event(event, fields),
                exc_info=exc_info,
                extra={"event": event, "event_fields": fields},
                stacklevel=3,  # the record names the call site, not this module
            )

    def debug(self, event: str, *, exc_info: Any = None, **fields: Any) -> None:
        self._emit(logging.DEBUG, event, exc_info, fields)

    def info(self, event: str, *, exc_info: Any = None, **fields: Any) -> None:
        self._emit(logging.INFO, event, exc_info, fields)

    def warning(self, event: str, *, exc_info: Any = None, **fields: Any) -> None:
        self._emit(logging.WARNING, event, exc_info, fields)

    def error(self, event: str, *, exc_info: Any = None, **fields: Any) -> None:
        self._emit(logging.ERROR, event, exc_info, fields)

    def exception(self, event: str, *, exc_info: Any = True, **fields: Any) -> None:
        self._emit(logging.ERROR, event, exc_info, fields)


def get_logger(name: str) -> EventLogger:
    """The event logger for module ``name`` (pass ``__name__``): a child of this package's logger."""
    return EventLogger(logging.getLogger(name))
