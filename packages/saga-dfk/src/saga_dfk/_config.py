"""SagaConfig: a Parsl ``Config`` that also carries the SAGA planning options.

Why a subclass rather than a separate options object next to a plain Config: ``saga_dfk.load(config)``
and ``SagaDataFlowKernel(config)`` then take exactly one object, like ``parsl.load``; every Parsl option
(executors, retries, run_dir, strategy_period, ...) is passed through unchanged as a keyword, and code
that inspects ``dfk.config`` as a ``parsl.Config`` keeps working.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from parsl.config import Config

import saga_graphs

from ._errors import InvalidSagaConfigError

__all__ = ["PLANNING_MODES", "SagaConfig", "canonical_scheduler"]

PLANNING_MODES = ("explicit", "rolling")


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Reject NaN, infinities and non-positive numbers with an error naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSagaConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidSagaConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def canonical_scheduler(scheduler: str | Sequence[str]) -> str | list[str]:
    """A scheduler name, or a portfolio (list) of names, in saga_graphs' canonical spelling.

    Names are case-insensitive and may carry surrounding blanks (``"heft"``, ``" Heft "`` -> ``"HEFT"``), as
    in ``saga_graphs.plan`` and the ``--scheduler`` option of the CLI. A name saga_graphs does not know raises
    ``saga_graphs.errors.UnknownSchedulerError``; anything that is not a name or a non-empty list of names
    raises InvalidSagaConfigError.
    """
    if isinstance(scheduler, str):
        names: list[object] = [scheduler]
    elif isinstance(scheduler, Sequence):
        names = list(scheduler)
        if not names:
            raise InvalidSagaConfigError("saga_scheduler portfolio is empty; expected at least one name")
    else:
        raise InvalidSagaConfigError(
            "saga_scheduler must be a scheduler name or a list of names (a portfolio), "
            f"got {type(scheduler).__name__} {scheduler!r}"
        )
    known = {name.lower(): name for name in saga_graphs.available_schedulers()}
    canonical: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidSagaConfigError(
                f"saga_scheduler names must be strings, got {type(name).__name__} {name!r}"
            )
        found = known.get(name.strip().lower())
        if found is None:
            raise saga_graphs.errors.UnknownSchedulerError(
                f"unknown SAGA scheduler {name!r}; expected one of {sorted(known.values())} (any case)"
            )
        canonical.append(found)
    return canonical[0] if isinstance(scheduler, str) else canonical


def _check_report_path(report_path: str | os.PathLike[str] | None) -> str | None:
    """None, or a file path cleanup() can write: not empty, not a directory, no file where a folder must be."""
    if report_path is None:
        return None
    if not isinstance(report_path, str | os.PathLike) or not isinstance(os.fspath(report_path), str):
        raise InvalidSagaConfigError(
            f"report_path must be a file path (str or os.PathLike) or None, "
            f"got {type(report_path).__name__} {report_path!r}"
        )
    text = os.fspath(report_path)
    if not text.strip():
        raise InvalidSagaConfigError(f"report_path must be a non-empty file path, got {report_path!r}")
    path = Path(text)
    if path.is_dir():
        raise InvalidSagaConfigError(
            f"report_path {text!r} is a directory; expected the path of the report JSON file"
        )
    for parent in path.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise InvalidSagaConfigError(
                f"report_path {text!r} cannot be written: {str(parent)!r} is a file, not a directory"
            )
    return text


class SagaConfig(Config):
    """A Parsl Config plus the options of SAGA planning.

    Args:
        saga_scheduler: a scheduler name known to ``saga_graphs.available_schedulers()`` (default
            ``"HEFT"``; any case: ``"heft"`` is stored as ``"HEFT"``) or a list of names: a portfolio, the
            plan with the smallest predicted makespan wins. Checked here, so a typo fails at config time,
            not mid-run.
        cost_model: a ``saga_graphs.CostModel`` giving each task's cost (seconds on a speed-1 core) and
            output size (bytes); default ``UniformCostModel()``. A ``LearnedCostModel`` is fed with the
            observed durations.
        planning: ``"explicit"`` holds tasks until ``dfk.execute()`` (or until something waits on them:
            ``result()``, ``exception()``, ``wait_for_current_tasks()``, ``cleanup()``); tasks submitted
            after that (e.g. join_app inner tasks) are planned in rolling rounds, because nobody would
            call ``execute()`` for them. ``"rolling"`` starts rounds by itself.
        settle_window: rolling rounds start once no task was submitted for this many seconds ...
        round_threshold: ... or as soon as this many tasks are held.
        report_path: where ``cleanup()`` writes the run report JSON, a ``str`` or ``os.PathLike`` (None: no
            file); missing parent folders are created then, so only a path that can never be written (a
            directory, a file in place of a folder) fails here.
        network: a network spec (``saga_graphs.NetworkSpec``; schema in saga-graphs' README) to plan
            on instead of asking the executor.
        topology: an object with ``to_network_spec()`` (a ``k8s_topology.Topology``): its nodes and
            bandwidths are used, restricted to nodes that have a connected pool (with its slots).
        network_source: reports nodes joining, lost or changed besides the executor (a
            ``saga_dfk.KubernetesNetworkSource``: a node deleted, cordoned or NotReady on the cluster
            starts the same re-plan as a pool leaving). The kernel subscribes, starts it and stops it
            in ``cleanup()``. If it has ``to_network_spec()`` and ``topology`` is not given, it is the
            topology too (its live nodes and bandwidths).
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
        progress: ``True`` shows a one-line live progress display (``dfk.progress()``, rewritten with
            ``\\r``) on stderr while the run goes on -- only when stderr is a terminal (default False).
        live_report_interval: with ``report_path``, the live HTML page ``<report stem>.live.html`` (plan
            against reality, a "now" line, per-node utilisation, predicted finish) is rewritten every this
            many seconds during the run, and a last time, without auto-refresh, at cleanup; None: no page.
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
        report_path: str | os.PathLike[str] | None = None,
        network: Mapping[str, Any] | None = None,
        topology: Any = None,
        network_source: Any = None,
        saga_executor: str | None = None,
        min_nodes: int = 1,
        node_wait_timeout: float = 120.0,
        affinity: Literal["hard", "soft"] = "hard",
        time_budget: float = 60.0,
        default_bandwidth: float = saga_graphs.DEFAULT_BANDWIDTH,
        max_replans: int = 3,
        progress: bool = False,
        live_report_interval: float | None = 2.0,
        **parsl_options: Any,
    ) -> None:
        accepted = sorted(n for n in inspect.signature(Config.__init__).parameters if n != "self")
        unknown = sorted(set(parsl_options) - set(accepted))
        if unknown:
            raise InvalidSagaConfigError(
                f"unknown SagaConfig option(s) {unknown}; expected SAGA options or parsl.Config options {accepted}"
            )
        try:
            super().__init__(**parsl_options)
        except Exception as exc:
            # parsl.Config type-checks its arguments with typeguard, whose TypeCheckError is no ValueError.
            if type(exc).__name__ != "TypeCheckError":
                raise
            raise InvalidSagaConfigError(f"bad parsl.Config option: {exc}") from exc
        self.saga_scheduler: str | list[str] = canonical_scheduler(saga_scheduler)
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
        self.report_path: str | None = _check_report_path(report_path)
        if network is not None and not isinstance(network, Mapping):
            raise InvalidSagaConfigError(
                f"network must be a network spec mapping, got {type(network).__name__}"
            )
        self.network = dict(network) if network is not None else None
        if topology is not None and not callable(getattr(topology, "to_network_spec", None)):
            raise InvalidSagaConfigError(
                f"topology must have to_network_spec() (a k8s_topology.Topology), got {type(topology).__name__}"
            )
        if network_source is not None and not all(
            callable(getattr(network_source, m, None)) for m in ("subscribe", "start", "stop")
        ):
            raise InvalidSagaConfigError(
                "network_source must have subscribe(), start() and stop() (a saga_dfk.KubernetesNetworkSource), "
                f"got {type(network_source).__name__}"
            )
        self.network_source = network_source
        if topology is None and callable(getattr(network_source, "to_network_spec", None)):
            topology = network_source  # its live topology: nodes the cluster no longer offers drop out
        self.topology = topology
        if saga_executor is not None and (not isinstance(saga_executor, str) or not saga_executor.strip()):
            raise InvalidSagaConfigError(
                f"saga_executor must be an executor label (a non-empty str) or None, got {saga_executor!r}"
            )
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
        if not isinstance(progress, bool):
            raise InvalidSagaConfigError(f"progress must be True or False, got {progress!r}")
        self.progress = progress
        self.live_report_interval: float | None = (
            None
            if live_report_interval is None
            else _check_positive("live_report_interval", live_report_interval)
        )

    def __repr__(self) -> str:
        # parsl's RepresentationMixin cannot see through **parsl_options; show the saga part plainly.
        return (
            f"SagaConfig(saga_scheduler={self.saga_scheduler!r}, planning={self.planning!r}, "
            f"cost_model={type(self.cost_model).__name__}, executors={[e.label for e in self.executors]!r})"
        )
