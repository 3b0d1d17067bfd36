"""Cost models: how long a task takes (s on a speed-1 core) and how many bytes it outputs.

Parsl knows a task only by its function name and task id; a cost model turns those into the numbers a
:class:`~saga_graphs.TaskGraph` needs. Uniform is the default (every task costs 1.0, outputs 0 bytes), declared
lets users state what they know, learned improves from observed runs across workflow executions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from saga_graphs._log import kv
from saga_graphs.errors import InvalidCostError, InvalidSizeError, SagaGraphsError

__all__ = ["CostModel", "DeclaredCostModel", "LearnedCostModel", "UniformCostModel"]

log = logging.getLogger(__name__)

_FORMAT = "saga-graphs.learned-costs/1"


def _non_negative(value: Any, what: str, error: type[SagaGraphsError]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise error(f"{what} must be a finite number >= 0; got {value!r}")
    return float(value)


class CostModel(ABC):
    """Estimates per task; ``observe`` feeds back what really happened (ignored unless learning)."""

    @abstractmethod
    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        """Seconds the task needs on a reference core of speed 1."""

    @abstractmethod
    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        """Bytes the task's result occupies (what a child on another node must receive)."""

    def observe(
        self, function_name: str, duration: float, output_size: float = 0.0, *, speed: float = 1.0
    ) -> None:
        """Record a finished run: ``duration`` wall seconds on a core of relative ``speed``."""
        del function_name, duration, output_size, speed


class UniformCostModel(CostModel):
    """Every task costs ``cost`` and outputs ``output_size`` bytes (default: 1.0 and 0, every task alike)."""

    def __init__(self, cost: float = 1.0, output_size: float = 0.0) -> None:
        self._cost = _non_negative(cost, "uniform cost", InvalidCostError)
        self._size = _non_negative(output_size, "uniform output_size", InvalidSizeError)

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        return self._cost

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        return self._size

    def __repr__(self) -> str:
        return f"UniformCostModel(cost={self._cost}, output_size={self._size})"


class DeclaredCostModel(CostModel):
    """Costs and sizes the user declares, per task id (wins) or per function name.

    Anything not declared comes from ``default`` (a model, or a number used as a uniform cost).
    Declarations are given to the constructor and/or added later with :meth:`declare` -- Parsl task ids
    are known only once a task is submitted, so a workflow declares each task right after submitting it
    and before it is planned.
    """

    def __init__(
        self,
        costs: Mapping[str, float] | None = None,
        output_sizes: Mapping[str, float] | None = None,
        *,
        task_costs: Mapping[str | int, float] | None = None,
        task_output_sizes: Mapping[str | int, float] | None = None,
        default: CostModel | float = 1.0,
    ) -> None:
        self._costs = {
            str(k): _non_negative(v, f"declared cost of {k!r}", InvalidCostError)
            for k, v in (costs or {}).items()
        }
        self._sizes = {
            str(k): _non_negative(v, f"declared output size of {k!r}", InvalidSizeError)
            for k, v in (output_sizes or {}).items()
        }
        self._task_costs = {
            str(k): _non_negative(v, f"declared cost of task {k!r}", InvalidCostError)
            for k, v in (task_costs or {}).items()
        }
        self._task_sizes = {
            str(k): _non_negative(v, f"declared output size of task {k!r}", InvalidSizeError)
            for k, v in (task_output_sizes or {}).items()
        }
        self._default = default if isinstance(default, CostModel) else UniformCostModel(default)
        # declare() may run while a planning round reads; single dict reads and writes are atomic.
        self._lock = threading.Lock()

    def declare(self, key: str | int, *, cost: float | None = None, output_size: float | None = None) -> None:
        """Declare (or re-declare) the ``cost`` (seconds on a speed-1 core) and/or ``output_size`` (bytes)
        of one Parsl task (``key`` an ``int`` task id, e.g. ``future.tid``) or of every task of one
        function (``key`` a ``str`` function name); a task's declaration wins over its function's.

        Takes effect from the next planning round (tasks already planned keep their plan). Thread-safe.
        Raises :class:`~saga_graphs.errors.InvalidCostError` / :class:`~saga_graphs.errors.InvalidSizeError`
        for a negative, NaN or infinite value, and :class:`~saga_graphs.errors.SagaGraphsError` when ``key``
        is neither an int nor a non-empty str, or when neither value is given.
        """
        if isinstance(key, bool) or not isinstance(key, int | str) or key == "":
            raise SagaGraphsError(f"declare() needs a task id (int) or a function name (str); got {key!r}")
        if cost is None and output_size is None:
            raise SagaGraphsError(f"declare({key!r}) needs cost=, output_size= or both")
        what = f"task {key!r}" if isinstance(key, int) else repr(key)
        c = None if cost is None else _non_negative(cost, f"declared cost of {what}", InvalidCostError)
        size = (
            None
            if output_size is None
            else _non_negative(output_size, f"declared output size of {what}", InvalidSizeError)
        )
        costs, sizes = (
            (self._task_costs, self._task_sizes) if isinstance(key, int) else (self._costs, self._sizes)
        )
        with self._lock:
            if c is not None:
                costs[str(key)] = c
            if size is not None:
                sizes[str(key)] = size

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        if task_id is not None and str(task_id) in self._task_costs:
            return self._task_costs[str(task_id)]
        if function_name in self._costs:
            return self._costs[function_name]
        return self._default.cost(function_name, task_id)

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        if task_id is not None and str(task_id) in self._task_sizes:
            return self._task_sizes[str(task_id)]
        if function_name in self._sizes:
            return self._sizes[function_name]
        return self._default.output_size(function_name, task_id)

    def observe(
        self, function_name: str, duration: float, output_size: float = 0.0, *, speed: float = 1.0
    ) -> None:
        """Forwarded to ``default``: a ``LearnedCostModel`` behind the declarations keeps learning."""
        self._default.observe(function_name, duration, output_size, speed=speed)


class LearnedCostModel(CostModel):
    """Exponentially weighted mean of observed durations and output sizes per function name.

    ``estimate <- alpha * observation + (1 - alpha) * estimate`` (the first observation is taken as
    is), so recent runs count most while one outlier cannot take over. Persisted as JSON at ``path``
    (written atomically via a temp file and rename: a crash mid-write never leaves a truncated
    file; no fsync, so saving after every observation stays cheap); unseen functions get
    ``default_cost`` / ``default_output_size``. Thread-safe.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        alpha: float = 0.3,
        default_cost: float = 1.0,
        default_output_size: float = 0.0,
        autosave: bool = True,
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
            raise SagaGraphsError(f"alpha must be in (0, 1]; got {alpha!r}")
        self.path = Path(path)
        self.alpha = float(alpha)
        self.default_cost = _non_negative(default_cost, "default_cost", InvalidCostError)
        self.default_output_size = _non_negative(default_output_size, "default_output_size", InvalidSizeError)
        self.autosave = autosave
        self._lock = threading.Lock()
        self._stats: dict[str, dict[str, float]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != _FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {_FORMAT!r}")
            stats = {
                str(name): {
                    "cost": _non_negative(s["cost"], "cost", InvalidCostError),
                    "output_size": _non_negative(s["output_size"], "output_size", InvalidSizeError),
                    "count": float(s.get("count", 1)),
                }
                for name, s in data["functions"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise SagaGraphsError(
                f"learned cost file {str(self.path)!r} is unreadable or malformed: {e}"
            ) from e
        self._stats = stats
        log.info("cost_model.loaded %s", kv(path=str(self.path), functions=len(stats)))

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        with self._lock:
            s = self._stats.get(function_name)
            return s["cost"] if s is not None else self.default_cost

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        with self._lock:
            s = self._stats.get(function_name)
            return s["output_size"] if s is not None else self.default_output_size

    def observations(self, function_name: str) -> int:
        """How many runs of ``function_name`` were observed (0 if never)."""
        with self._lock:
            s = self._stats.get(function_name)
            return int(s["count"]) if s is not None else 0

    def observe(
        self, function_name: str, duration: float, output_size: float = 0.0, *, speed: float = 1.0
    ) -> None:
        d = _non_negative(duration, f"observed duration of {function_name!r}", InvalidCostError)
        size = _non_negative(output_size, f"observed output size of {function_name!r}", InvalidSizeError)
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or speed <= 0
        ):
            raise SagaGraphsError(f"speed must be a finite number > 0; got {speed!r}")
        cost = d * speed  # a run on a 2x core took half the reference time
        with self._lock:
            s = self._stats.get(function_name)
            if s is None:
                self._stats[function_name] = {"cost": cost, "output_size": size, "count": 1.0}
            else:
                a = self.alpha
                s["cost"] = a * cost + (1 - a) * s["cost"]
                s["output_size"] = a * size + (1 - a) * s["output_size"]
                s["count"] += 1
            if self.autosave:
                self._save_locked()

    def save(self) -> None:
        """Write the estimates to ``path`` atomically (temp file in the same directory + rename)."""
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        data = {"format": _FORMAT, "alpha": self.alpha, "functions": self._stats}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def __repr__(self) -> str:
        return f"LearnedCostModel(path={str(self.path)!r}, alpha={self.alpha}, functions={len(self._stats)})"
