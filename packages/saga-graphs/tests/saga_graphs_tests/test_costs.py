"""Cost models: uniform, declared, learned (EWMA, persisted atomically)."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

import saga_graphs as sg


def test_uniform_costs_every_task_alike() -> None:
    m = sg.UniformCostModel()
    assert m.cost("anything", 3) == 1.0 and m.output_size("anything") == 0.0
    m.observe("anything", 50.0, 10.0)  # ignored
    assert m.cost("anything") == 1.0
    with pytest.raises(sg.errors.InvalidCostError, match="uniform cost must be a finite number >= 0; got -1"):
        sg.UniformCostModel(cost=-1)


def test_declared_per_task_wins_over_per_function_over_default() -> None:
    m = sg.DeclaredCostModel(
        {"render": 4.0},
        {"render": 2e6},
        task_costs={17: 9.0},
        task_output_sizes={"17": 5.0},
        default=sg.UniformCostModel(0.5, 1.0),
    )
    assert m.cost("render", 17) == 9.0 and m.output_size("render", 17) == 5.0
    assert m.cost("render", 18) == 4.0 and m.output_size("render", 18) == 2e6
    assert m.cost("other", 18) == 0.5 and m.output_size("other") == 1.0
    assert sg.DeclaredCostModel(default=2.5).cost("x") == 2.5
    with pytest.raises(
        sg.errors.InvalidCostError, match="declared cost of 'f' must be a finite number >= 0; got nan"
    ):
        sg.DeclaredCostModel({"f": math.nan})
    with pytest.raises(sg.errors.InvalidSizeError, match="declared output size of task 3"):
        sg.DeclaredCostModel(task_output_sizes={3: -1.0})


def test_declared_grows_after_construction_and_validates() -> None:
    """Task ids are known only after submit: declare() adds them (and function names) later."""
    m = sg.DeclaredCostModel({"render": 4.0}, default=sg.UniformCostModel(0.5, 1.0))
    assert m.cost("render", 7) == 4.0
    m.declare(7, cost=2.0, output_size=3e6)
    m.declare("render", output_size=8.0)  # only the size: the function's cost stays 4.0
    m.declare("fit", cost=1.5)
    assert (m.cost("render", 7), m.output_size("render", 7)) == (2.0, 3e6)
    assert (m.cost("render", 8), m.output_size("render", 8)) == (4.0, 8.0)
    assert (m.cost("fit"), m.output_size("fit")) == (1.5, 1.0)
    m.declare(7, cost=0.0)  # re-declaring replaces
    assert m.cost("render", 7) == 0.0 and m.output_size("render", 7) == 3e6
    with pytest.raises(sg.errors.InvalidCostError, match="declared cost of task 9 must be a finite number"):
        m.declare(9, cost=-1.0)
    with pytest.raises(sg.errors.InvalidSizeError, match="declared output size of 'f' must be"):
        m.declare("f", output_size=math.inf)
    with pytest.raises(sg.errors.SagaGraphsError, match="needs cost=, output_size= or both"):
        m.declare(9)
    for bad in (True, 1.5, "", None):
        with pytest.raises(sg.errors.SagaGraphsError, match="task id \\(int\\) or a function name"):
            m.declare(bad, cost=1.0)  # type: ignore[arg-type]
    assert m.cost("x", 9) == 0.5  # nothing half-declared by the failures


def test_declared_declare_is_thread_safe() -> None:
    m = sg.DeclaredCostModel()

    def fill(base: int) -> None:
        for i in range(500):
            m.declare(base + i, cost=float(i), output_size=float(2 * i))

    threads = [threading.Thread(target=fill, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(
        m.cost("f", k * 1000 + i) == i and m.output_size("f", k * 1000 + i) == 2 * i
        for k in range(4)
        for i in range(500)
    )


def test_learned_ewma_defaults_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "costs.json"
    m = sg.LearnedCostModel(path, alpha=0.5, default_cost=2.0, default_output_size=7.0)
    assert m.cost("f") == 2.0 and m.output_size("f") == 7.0 and m.observations("f") == 0
    m.observe("f", 4.0, 100.0)  # first observation taken as is
    assert m.cost("f") == 4.0 and m.output_size("f") == 100.0
    m.observe("f", 2.0, 300.0)
    assert m.cost("f") == pytest.approx(3.0) and m.output_size("f") == pytest.approx(200.0)
    m.observe("f", 1.0, 0.0, speed=2.0)  # 1 s on a 2x core = 2 s of reference work
    assert m.cost("f") == pytest.approx(2.5)
    assert m.cost("g") == 2.0  # unseen function
    data = json.loads(path.read_text())
    assert data["functions"]["f"]["count"] == 3
    again = sg.LearnedCostModel(path, alpha=0.5)
    assert again.cost("f") == pytest.approx(2.5) and again.observations("f") == 3
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temp files left


def test_learned_without_autosave_writes_on_save(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    m = sg.LearnedCostModel(path, autosave=False)
    m.observe("f", 1.0)
    assert not path.exists()
    m.save()
    assert sg.LearnedCostModel(path).cost("f") == 1.0


def test_learned_is_thread_safe(tmp_path: Path) -> None:
    m = sg.LearnedCostModel(tmp_path / "c.json", alpha=1.0)

    def work() -> None:
        for _ in range(50):
            m.observe("f", 1.0, 1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.observations("f") == 200
    assert sg.LearnedCostModel(tmp_path / "c.json").observations("f") == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "unreadable or malformed"), ('{"format": "x"}', "format is 'x'"),
     ('{"format": "saga-graphs.learned-costs/1", "functions": {"f": {"cost": -1, "output_size": 0}}}', "cost must be")],
)  # fmt: skip
def test_learned_rejects_a_corrupt_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(sg.errors.SagaGraphsError, match=message):
        sg.LearnedCostModel(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"duration": -1.0}, "observed duration of 'f' must be"), ({"duration": math.inf}, "observed duration"),
     ({"duration": 1.0, "output_size": math.nan}, "observed output size of 'f'"),
     ({"duration": 1.0, "speed": 0.0}, "speed must be a finite number > 0")],
)  # fmt: skip
def test_learned_rejects_bad_observations(tmp_path: Path, kwargs: dict[str, float], message: str) -> None:
    m = sg.LearnedCostModel(tmp_path / "c.json")
    with pytest.raises(sg.errors.SagaGraphsError, match=message):
        m.observe("f", **kwargs)
    assert m.observations("f") == 0


def test_learned_alpha_is_checked(tmp_path: Path) -> None:
    with pytest.raises(sg.errors.SagaGraphsError, match=r"alpha must be in \(0, 1\]; got 0"):
        sg.LearnedCostModel(tmp_path / "c.json", alpha=0)


def test_cost_model_is_abstract() -> None:
    with pytest.raises(TypeError):
        sg.CostModel()  # type: ignore[abstract]
