"""Poll until something is true: the one ``wait_until`` of the repository's tests, end-to-end tiers and benchmarks.

Why one: every tier waits for real processes (pools registering, tasks starting, pods appearing) and must say
*what* it waited for when the wait runs out; four copies had drifted (some swallowed a predicate's errors,
some raised AssertionError, some TimeoutError, with different poll periods).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, period: float = 0.2) -> None:
    """Call ``predicate()`` every ``period`` seconds until it returns something true.

    An exception from ``predicate`` counts as "not yet" (an interchange that does not answer yet, a pod not
    created yet); after ``timeout`` seconds a TimeoutError names ``what`` and the last such exception.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return
        except Exception as e:
            last_error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(period)
    detail = f" (last error: {last_error!r})" if last_error is not None else ""
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{detail}") from last_error
