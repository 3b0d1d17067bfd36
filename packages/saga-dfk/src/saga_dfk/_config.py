"""SagaConfig: a Parsl ``Config`` that also carries the SAGA planning options.

Why a subclass rather than a separate options object next to a plain Config: ``saga_dfk.load(config)``
and ``SagaDataFlowKernel(config)`` then take exactly one object, like ``parsl.load``; every Parsl option
(executors, retries, run_dir, strategy_period, ...) is passed through unchanged as a keyword, and code
that inspects ``dfk.config`` as a ``parsl.Config`` keeps working.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from parsl.config import Config

import saga_graphs

from ._errors import InvalidSagaConfigError

__all__ = ["PLANNING_MODES", "SagaConfig"]

PLANNING_MODES = ("explicit", "rolling")


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Reject NaN, infinities and non-positive numbers with an error naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSagaConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidSagaConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


class SagaConfig(Config):
    """A Parsl Config plus the options of SAGA planning.

    Args:
        saga_scheduler: a scheduler name known to ``saga_graphs.available_schedulers()`` (as in the
            seed, ``"HEFT"``) or a list of names: a portfolio, the plan with the smallest predicted
            makespan wins. Checked here, so a typo fails at config time, not mid-run.
        cost_model: a ``saga_graphs.CostModel`` giving each task's cost (seconds on a speed-1 core) and
            output size (bytes); default ``UniformCostModel()``. A ``LearnedCostModel`` is fed with the
            observed durations.
        planning: ``"explicit"`` holds tasks until ``dfk.execute()`` (or until something waits on them:
            ``result()``, ``exception()``, ``wait_for_current_tasks()``, ``cleanup()``); tasks submitted
            after that (e.g. join_app inner tasks) are planned in rolling rounds, because nobody would
            call ``execute()`` for them. ``"rolling"`` starts rounds by itself.
        settle_window: rolling rounds start once no task was submitted for this many seconds ...
        round_threshold: ... or as soon as this many tasks are held.
        report_path: where ``cleanup()`` writes the run report JSON (None: no file).
        network: a network spec (see CONTRACTS) to plan on instead of asking the executor.
        topology: an object with ``to_network_spec(slots=...)`` (a ``k8s_topology.Topology``): its
            bandwidths are used, restricted to nodes that have a connected pool.
        saga_executor: label of the executor whose tasks are planned; default: the first executor
            that reports connected nodes (``connected_nodes()``). Other executors' tasks (and the
            internal one that runs join_app bodies) pass through unplanned.
        min_nodes: planning waits until at least this many nodes are connected ...
        node_wait_timeout: ... for at most this many seconds, then fails with EmptyTopologyError.
        affinity: ``"hard"`` (default: a task runs only on its planned node; if that node is lost the
            task is re-planned) or ``"soft"`` (the executor may run it elsewhere after its grace period).
        time_budget: seconds SAGA may spend per planning round.
        default_bandwidth: bytes/s between connected nodes when the executor gives no link data.
        max_replans: how often one task may be re-planned after node loss before its error is final.
        **parsl_options: every ``parsl.Config`` keyword, passed through unchanged.
    """

    def __init__(
        self,
        *,
        saga_scheduler: str | Sequence[str] = "HEFT",
        cost_model: saga_graphs.CostModel | None = None,
        planning: Literal["explicit", "rolling"] = "explicit",
        settle_window: float = 0.2,
        round_threshold: int = 1000,
        report_path: str | None = None,
        network: Mapping[str, Any] | None = None,
        topology: Any = None,
        saga_executor: str | None = None,
        min_nodes: int = 1,
        node_wait_timeout: float = 120.0,
        affinity: Literal["hard", "soft"] = "hard",
        time_budget: float = 60.0,
        default_bandwidth: float = 1.25e9,
        max_replans: int = 3,
        **parsl_options: Any,
    ) -> None:
        super().__init__(**parsl_options)
        self.saga_scheduler: str | list[str] = self._check_scheduler(saga_scheduler)
        self.cost_model: saga_graphs.CostModel = (
            cost_model if cost_model is not None else saga_graphs.UniformCostModel()
        )
        if not isinstance(self.cost_model, saga_graphs.CostModel):
            raise InvalidSagaConfigError(
                f"cost_model must be a saga_graphs.CostModel, got {type(cost_model).__name__}"
            )
        if planning not in PLANNING_MODES:
            raise InvalidSagaConfigError(f"planning must be one of {PLANNING_MODES}, got {planning!r}")
        self.planning = planning
        self.settle_window = _check_positive("settle_window", settle_window, allow_zero=True)
        if isinstance(round_threshold, bool) or not isinstance(round_threshold, int) or round_threshold < 1:
            raise InvalidSagaConfigError(f"round_threshold must be an int >= 1, got {round_threshold!r}")
        self.round_threshold = round_threshold
        self.report_path = report_path
        if network is not None and not isinstance(network, Mapping):
            raise InvalidSagaConfigError(
                f"network must be a network spec mapping, got {type(network).__name__}"
            )
        self.network = dict(network) if network is not None else None
        if topology is not None and not callable(getattr(topology, "to_network_spec", None)):
            raise InvalidSagaConfigError(
                f"topology must have to_network_spec() (a k8s_topology.Topology), got {type(topology).__name__}"
            )
        self.topology = topology
        self.saga_executor = saga_executor
        if isinstance(min_nodes, bool) or not isinstance(min_nodes, int) or min_nodes < 1:
            raise InvalidSagaConfigError(f"min_nodes must be an int >= 1, got {min_nodes!r}")
        self.min_nodes = min_nodes
        self.node_wait_timeout = _check_positive("node_wait_timeout", node_wait_timeout, allow_zero=True)
        if affinity not in ("hard", "soft"):
            raise InvalidSagaConfigError(f"affinity must be 'hard' or 'soft', got {affinity!r}")
        self.affinity = affinity
        self.time_budget = _check_positive("time_budget", time_budget)
        self.default_bandwidth = _check_positive("default_bandwidth", default_bandwidth)
        if isinstance(max_replans, bool) or not isinstance(max_replans, int) or max_replans < 0:
            raise InvalidSagaConfigError(f"max_replans must be an int >= 0, got {max_replans!r}")
        self.max_replans = max_replans

    @staticmethod
    def _check_scheduler(scheduler: str | Sequence[str]) -> str | list[str]:
        """Fail at config time on a scheduler name saga_graphs does not know (the seed failed mid-run)."""
        known = saga_graphs.available_schedulers()
        names = [scheduler] if isinstance(scheduler, str) else list(scheduler)
        if not names:
            raise InvalidSagaConfigError("saga_scheduler portfolio is empty; expected at least one name")
        for name in names:
            if not isinstance(name, str) or name not in known:
                raise saga_graphs.UnknownSchedulerError(
                    f"unknown SAGA scheduler {name!r}; expected one of {sorted(known)}"
                )
        return scheduler if isinstance(scheduler, str) else names

    def __repr__(self) -> str:
        # parsl's RepresentationMixin cannot see through **parsl_options; show the saga part plainly.
        return (
            f"SagaConfig(saga_scheduler={self.saga_scheduler!r}, planning={self.planning!r}, "
            f"cost_model={type(self.cost_model).__name__}, executors={[e.label for e in self.executors]!r})"
        )
