"""Per-call planning hints and THE order in which a task's cost and output size are chosen.

A caller may tell the planner, per call, what to assume for one task::

    heavy(x, parsl_resource_specification={"cost": 12.0, "output_size": 5e8})

The hint keys (HINT_KEYS) are for saga-dfk only: they are taken out of the task's resource specification
(into a fresh dict, before Parsl computes a memoization hash and before the executor sees the spec, which
accepts only its own keys) and kept on the task.

Where a task's numbers come from -- first match wins, implemented only in :func:`resolve_cost` /
:func:`resolve_output_size`:

1. the per-call hint (``parsl_resource_specification={"cost": ..., "output_size": ...}``);
2. a value declared for this task id (``dfk.declare_cost(future, ...)`` / ``DeclaredCostModel.declare(tid)``);
3. a value declared for the function name (``dfk.declare_cost("fname", ...)``, ``DeclaredCostModel(costs=)``);
4. the learned estimate (a ``LearnedCostModel``: the configured model, or the declared model's ``default``);
5. the uniform default (``UniformCostModel``; a ``LearnedCostModel``'s ``default_cost`` for unseen functions).

Steps 2-5 are the kernel's cost model: the configured ``SagaConfig(cost_model=...)`` when it is a
``DeclaredCostModel``, else a ``DeclaredCostModel(default=<configured model>)`` wrapped around it, so
``declare_cost`` always works and declarations always win over what the configured model says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import saga_graphs

from ._errors import InvalidTaskHintError

__all__ = ["HINT_KEYS", "TaskHints", "resolve_cost", "resolve_output_size", "split_hints"]

#: resource-specification keys that are planning hints (never passed on to the executor)
HINT_KEYS: Final = ("cost", "output_size")


@dataclass(frozen=True)
class TaskHints:
    """What the caller said about one task: seconds on a speed-1 core, bytes of output (None: not said)."""

    cost: float | None = None
    output_size: float | None = None


def _check(value: object, key: str, task_id: int, func_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        unit = "seconds on a speed-1 core" if key == "cost" else "bytes"
        raise InvalidTaskHintError(
            f"task {task_id} ({func_name}): parsl_resource_specification[{key!r}] must be a finite number "
            f">= 0 ({unit}); got {value!r}"
        )
    return float(value)


def split_hints(
    spec: Mapping[str, Any] | None, task_id: int, func_name: str
) -> tuple[TaskHints | None, dict[str, Any] | None]:
    """``(hints, spec without the hint keys)``; ``(None, None)`` when ``spec`` has no hint key (nothing
    to change). Raises InvalidTaskHintError naming the task, key and value. ``spec`` is never modified."""
    if not isinstance(spec, Mapping) or not any(k in spec for k in HINT_KEYS):
        return None, None
    values = {k: _check(spec[k], k, task_id, func_name) for k in HINT_KEYS if k in spec}
    rest = {k: v for k, v in spec.items() if k not in HINT_KEYS}
    return TaskHints(values.get("cost"), values.get("output_size")), rest


def resolve_cost(
    model: saga_graphs.CostModel, hints: TaskHints | None, func_name: str, task_id: int
) -> float:
    """The task's cost, by the documented order (module docstring)."""
    if hints is not None and hints.cost is not None:
        return hints.cost
    return float(model.cost(func_name, task_id))


def resolve_output_size(
    model: saga_graphs.CostModel, hints: TaskHints | None, func_name: str, task_id: int
) -> float:
    """The task's output size in bytes, by the documented order (module docstring)."""
    if hints is not None and hints.output_size is not None:
        return hints.output_size
    return float(model.output_size(func_name, task_id))
