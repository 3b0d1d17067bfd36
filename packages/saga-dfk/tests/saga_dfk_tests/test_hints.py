"""Per-call hints and the one order of cost sources (saga_dfk._hints), without a cluster."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import saga_graphs
from saga_dfk import SagaConfig
from saga_dfk._hints import TaskHints, resolve_cost, resolve_output_size, split_hints
from saga_dfk.errors import InvalidTaskHintError


def test_split_hints_takes_the_keys_out_into_a_fresh_dict() -> None:
    spec = {"cost": 12, "output_size": 5e8, "priority": 3}
    hints, rest = split_hints(spec, 7, "heavy")
    assert hints == TaskHints(12.0, 5e8) and rest == {"priority": 3}
    assert spec == {"cost": 12, "output_size": 5e8, "priority": 3}, "never modified"
    assert split_hints({"priority": 1}, 7, "f") == (None, None)
    assert split_hints(None, 7, "f") == (None, None)


@pytest.mark.parametrize("key", ["cost", "output_size"])
@pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "12", None])
def test_bad_hints_are_typed_errors_naming_task_key_and_value(key: str, value: object) -> None:
    with pytest.raises(InvalidTaskHintError) as info:
        split_hints({key: value}, 42, "heavy")
    assert "task 42 (heavy)" in str(info.value) and repr(key) in str(info.value)
    assert repr(value) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_the_order_hint_task_function_learned_uniform(tmp_path: Path) -> None:
    learned = saga_graphs.LearnedCostModel(tmp_path / "costs.json", default_cost=1.0, autosave=False)
    model = saga_graphs.DeclaredCostModel(default=learned)
    # 5. uniform (the learned model's default for an unseen function)
    assert resolve_cost(model, None, "f", 1) == 1.0
    # 4. learned; observations reach the learned model through the declared one
    model.observe("f", 4.0)
    assert resolve_cost(model, None, "f", 1) == 4.0
    # 3. declared for the function name
    model.declare("f", cost=6.0, output_size=10.0)
    assert resolve_cost(model, None, "f", 1) == 6.0
    # 2. declared for this task id
    model.declare(1, cost=8.0)
    assert resolve_cost(model, None, "f", 1) == 8.0 and resolve_cost(model, None, "f", 2) == 6.0
    # 1. the per-call hint
    assert resolve_cost(model, TaskHints(cost=12.0), "f", 1) == 12.0
    assert resolve_output_size(model, TaskHints(cost=12.0), "f", 1) == 10.0, "only the hinted value wins"
    assert resolve_output_size(model, TaskHints(output_size=5e8), "f", 1) == 5e8


def test_live_view_options_are_checked() -> None:
    config = SagaConfig(progress=True, live_report_interval=None)
    assert config.progress is True and config.live_report_interval is None
    assert SagaConfig().progress is False and SagaConfig().live_report_interval == 2.0
