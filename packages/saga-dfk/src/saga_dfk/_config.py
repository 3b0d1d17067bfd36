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

PLANNING_MODES = ("auto", "explicit")
#: an earlier name of "auto", still accepted
_PLANNING_ALIASES = {"rolling": "auto"}


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
        planning: ``"auto"`` (default) plans by itself in rolling rounds, when submissions settle;
            ``dfk.execute()`` plans at once. ``"explicit"`` holds tasks until ``dfk.execute()`` or until
            anything waits on one (``result()``, ``exception()``, polling ``done()``,
            ``concurrent.futures.wait``/``as_completed``, a DataFuture, ``wait_for_current_tasks()``);
            from then on it plans like ``"auto"``, from any thread (callbacks that submit more tasks
            included). Tasks submitted by running apps (join_app bodies) are always planned by
            themselves. ``"rolling"`` is accepted as the old name of ``"auto"``.
        settle_window: a round starts once no task was submitted for this many seconds ...
        round_threshold: ... or as soon as this many tasks are held; a round plans at most this many (the
            oldest), the rest in the next rounds (``execute()`` plans everything held at once).
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
        min_nodes: the first round waits until this many nodes have live pools; None (default): until
            every node the executor expects (``expected_nodes()``: a LocalVirtualCluster's nodes, a pinned
            Kubernetes provider's schedulable nodes, N blocks of a batch provider) ...
        node_settle_time: ... but at most this many seconds after the kernel started; then it plans on
            the nodes there and logs ``saga.planning_without_nodes`` naming the missing ones. A node
            that joins later gets work by a re-plan of every task not dispatched yet.
        node_wait_timeout: a round with no node at all waits this many seconds for one, then its tasks
            fail with EmptyTopologyError (as final: no Parsl retry is spent on it).
        affinity: ``"hard"`` (default: a task runs only on its planned node; if that node is lost the
            task is re-planned) or ``"soft"`` (the executor may run it elsewhere after its grace period).
        time_budget: seconds SAGA may spend per planning round.
        default_bandwidth: bytes/s between connected nodes when the executor gives no link data.
        max_replans: how often one task may lose its node (and be re-planned and dispatched again, without
            using a Parsl retry) before the loss is its error.
        adaptive: keep the plan true while running: re-plan what is not dispatched when a node joins and
            when the run drifts from the plan (False: plan once; node losses are re-planned anyway).
        drift_relative, drift_absolute: a node has drifted when a task dispatched there is past its
            planned end by more than ``drift_absolute`` seconds and more than ``drift_relative`` times its
            planned duration. The re-plan uses what finished tasks taught (per node speed, per function
            cost; see saga_dfk._planner.Calibration).
        dispatch_window: at most this many tasks per slot are in the executor per node at once (the rest
            wait in saga-dfk's node queue in planned order, where a re-plan can still move them); None:
            no limit (every task is dispatched when its dependencies are done).
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
        planning: Literal["auto", "explicit", "rolling"] = "auto",
        settle_window: float = 0.2,
        round_threshold: int = 1000,
        report_path: str | os.PathLike[str] | None = None,
        network: Mapping[str, Any] | None = None,
        topology: Any = None,
        network_source: Any = None,
        saga_executor: str | None = None,
        min_nodes: int | None = None,
        node_settle_time: float = 60.0,
        node_wait_timeout: float = 120.0,
        affinity: Literal["hard", "soft"] = "hard",
        time_budget: float = 60.0,
        default_bandwidth: float = saga_graphs.DEFAULT_BANDWIDTH,
        max_replans: int = 3,
        adaptive: bool = True,
        drift_relative: float = 0.5,
        drift_absolute: float = 2.0,
        dispatch_window: float | None = 2.0,
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
        mode = _PLANNING_ALIASES.get(planning, planning) if isinstance(planning, str) else planning
        if mode not in PLANNING_MODES:
            raise InvalidSagaConfigError(f"planning must be one of {PLANNING_MODES}, got {planning!r}")
        self.planning: Literal["auto", "explicit"] = "auto" if mode == "auto" else "explicit"
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
        if min_nodes is not None and (
            isinstance(min_nodes, bool) or not isinstance(min_nodes, int) or min_nodes < 1
        ):
            raise InvalidSagaConfigError(f"min_nodes must be an int >= 1 or None, got {min_nodes!r}")
        self.min_nodes = min_nodes
        self.node_settle_time = _check_positive("node_settle_time", node_settle_time, allow_zero=True)
        self.node_wait_timeout = _check_positive("node_wait_timeout", node_wait_timeout, allow_zero=True)
        if affinity not in ("hard", "soft"):
            raise InvalidSagaConfigError(f"affinity must be 'hard' or 'soft', got {affinity!r}")
        self.affinity = affinity
        self.time_budget = _check_positive("time_budget", time_budget)
        self.default_bandwidth = _check_positive("default_bandwidth", default_bandwidth)
        if isinstance(max_replans, bool) or not isinstance(max_replans, int) or max_replans < 0:
            raise InvalidSagaConfigError(f"max_replans must be an int >= 0, got {max_replans!r}")
        self.max_replans = max_replans
        if not isinstance(adaptive, bool):
            raise InvalidSagaConfigError(f"adaptive must be True or False, got {adaptive!r}")
        self.adaptive = adaptive
        self.drift_relative = _check_positive("drift_relative", drift_relative, allow_zero=True)
        self.drift_absolute = _check_positive("drift_absolute", drift_absolute, allow_zero=True)
        self.dispatch_window: float | None = (
            None if dispatch_window is None else _check_positive("dispatch_window", dispatch_window)
        )
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
