"""SagaConfig checks every argument when it is built: a bad one raises InvalidSagaConfigError (a ValueError)
naming the option, the bad value and what was expected; scheduler names are case-insensitive."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import pytest

import saga_graphs
from saga_dfk import SagaConfig
from saga_dfk.errors import InvalidSagaConfigError


class _NoSpec:
    """Neither a topology (no to_network_spec) nor a network source (no subscribe/start/stop)."""


#: Per SagaConfig parameter: bad values and a fragment the error message must contain.
BAD: dict[str, list[tuple[Any, str]]] = {
    "saga_scheduler": [(3, "got int 3"), ([], "empty"), ([1], "got int 1"), ({"HEFT": 1}, "got dict")],
    "cost_model": [(object(), "cost_model must be a saga_graphs.CostModel"), ("uniform", "got str")],
    "planning": [("sometimes", "'sometimes'"), (None, "None"), (["explicit"], "planning must be one of")],
    "settle_window": [(-1.0, ">= 0"), (float("nan"), "finite"), ("0.2", "'0.2'"), (True, "True")],
    "round_threshold": [(0, "round_threshold"), (1.5, "1.5"), (True, "True"), ("10", "'10'")],
    "report_path": [
        (123, "report_path must be a file path"),
        (b"r.json", "got bytes"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("{tmp}", "is a directory"),
        ("{tmp}/afile/report.json", "is a file, not a directory"),
    ],
    "network": [([{"name": "a"}], "network must be a network spec mapping"), ("a", "got str")],
    "topology": [(_NoSpec(), "to_network_spec"), ("k8s", "got str")],
    "network_source": [(_NoSpec(), "subscribe(), start() and stop()"), (1, "got int")],
    "saga_executor": [("", "non-empty"), (3, "got 3"), (["vc"], "got ['vc']")],
    "min_nodes": [(0, "min_nodes"), (-1, "-1"), (2.0, "2.0"), (False, "False")],
    "node_settle_time": [(-1, "node_settle_time"), (float("nan"), "finite"), ("60", "'60'")],
    "node_wait_timeout": [(-1, "node_wait_timeout"), (float("inf"), "finite"), (None, "None")],
    "affinity": [("sticky", "'sticky'"), (None, "None"), (True, "True")],
    "time_budget": [(0, "> 0"), (-5.0, "time_budget"), (float("nan"), "finite"), ("60", "'60'")],
    "default_bandwidth": [(0.0, "> 0"), (float("inf"), "finite"), ("fast", "'fast'")],
    "max_replans": [(-1, "max_replans"), (1.0, "1.0"), (None, "None")],
    "adaptive": [("yes", "adaptive must be True or False"), (1, "got 1"), (None, "None")],
    "drift_relative": [(-0.5, "drift_relative"), (float("nan"), "finite"), ("0.5", "'0.5'")],
    "drift_absolute": [(-2, "drift_absolute"), (float("inf"), "finite"), (None, "None")],
    "dispatch_window": [(0, "> 0"), (-1.0, "dispatch_window"), ("2", "'2'")],
    "progress": [("yes", "progress must be True or False"), (1, "got 1"), (None, "None")],
    "live_report_interval": [(0, "> 0"), (float("nan"), "finite"), ("2", "'2'")],
}

#: ``**parsl_options``: an unknown name, and Parsl's own type check of a known one.
BAD_PARSL_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"saga_schedular": "HEFT"}, "unknown SagaConfig option(s) ['saga_schedular']"),
    ({"retries": "x"}, "retries"),
    ({"run_dir": 5}, "run_dir"),
    ({"executors": 3}, "executors"),
]


def _cases() -> list[Any]:
    return [
        pytest.param(name, value, needle, id=f"{name}-{i}")
        for name, values in BAD.items()
        for i, (value, needle) in enumerate(values)
    ]


def test_every_parameter_has_bad_value_cases() -> None:
    params = inspect.signature(SagaConfig.__init__).parameters
    saga_options = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert saga_options == set(BAD)
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())  # BAD_PARSL_OPTIONS


@pytest.mark.parametrize(("name", "value", "needle"), _cases())
def test_a_bad_argument_raises_invalid_saga_config_error_naming_it(
    name: str, value: Any, needle: str, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("not a directory")
    if isinstance(value, str):
        value = value.replace("{tmp}", str(tmp_path))
        needle = needle.replace("{tmp}", str(tmp_path))
    with pytest.raises(InvalidSagaConfigError) as caught:
        SagaConfig(**{name: value})
    assert isinstance(caught.value, ValueError)
    assert needle in str(caught.value)
    if name != "saga_scheduler":
        assert name in str(caught.value)


@pytest.mark.parametrize(("options", "needle"), BAD_PARSL_OPTIONS)
def test_a_bad_parsl_option_raises_invalid_saga_config_error(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidSagaConfigError) as caught:
        SagaConfig(**options)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("heft", "HEFT"),
        ("HEFT", "HEFT"),
        (" Heft ", "HEFT"),
        ("saga-heft", "SAGA-HEFT"),
        ("minmin", "MinMin"),
        (["cpop", "heft"], ["CPOP", "HEFT"]),
        (("PEFT",), ["PEFT"]),
    ],
)
def test_scheduler_names_are_case_insensitive_and_stored_canonically(
    given: str | list[str], stored: str | list[str]
) -> None:
    assert SagaConfig(saga_scheduler=given).saga_scheduler == stored


def test_an_unknown_scheduler_name_is_saga_graphs_unknown_scheduler_error() -> None:
    with pytest.raises(saga_graphs.errors.UnknownSchedulerError, match=r"'hefty'.*any case"):
        SagaConfig(saga_scheduler="hefty")


def test_good_arguments_are_kept(tmp_path: Path) -> None:
    report = tmp_path / "new" / "dir" / "report.json"  # missing folders are created by cleanup()
    config = SagaConfig(report_path=report, saga_executor="vc", retries=2)
    assert config.report_path == os.fspath(report)
    assert config.saga_executor == "vc"
    assert config.retries == 2
    assert SagaConfig().report_path is None
