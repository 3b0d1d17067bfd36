"""Logging that fits Parsl: stdlib package loggers, silent by default, in parsl.log during a run.

Real processes throughout: the CLI as a subprocess (stdout and stderr captured apart), a real
SagaDataFlowKernel on a real local virtual cluster with Parsl's own file logging, and the top-level
README example exactly as a user pastes it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import parsl
import pytest

import saga_dfk
from parsl_affinity_htex import LocalVirtualCluster, child_pythonpath
from saga_dfk._cli import log_level
from saga_dfk._parsl_log import LIBRARY_LOGGERS

from .conftest import STARTUP_TIMEOUT_S

#: A log line of ours on a stream: an event name (``plan.done``, ``task.assigned`` ...) then key=value.
EVENT_LINE = re.compile(r"\b(plan|task|saga|executor|scheduler_worker|fast_heft|cost_model)\.[a-z_]+\b")


def _diamond(tmp_path: Path) -> Path:
    graph = {
        "tasks": [{"name": n, "cost": c} for n, c in [("t1", 0.5), ("t2", 2.0), ("t3", 1.0), ("t4", 0.5)]],
        "dependencies": [
            {"source": a, "target": b, "size": 0.0}
            for a, b in [("t1", "t2"), ("t1", "t3"), ("t2", "t4"), ("t3", "t4")]
        ],
    }
    path = tmp_path / "diamond.json"
    path.write_text(json.dumps(graph))
    return path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=child_pythonpath())
    return subprocess.run(
        [sys.executable, "-m", "saga_dfk", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_library_loggers_have_only_a_null_handler() -> None:
    import k8s_topology
    import parsl_affinity_htex
    import saga_graphs

    for name in LIBRARY_LOGGERS:
        handlers = logging.getLogger(name).handlers
        assert [type(h) for h in handlers] == [logging.NullHandler], (name, handlers)
    for module in (k8s_topology, parsl_affinity_htex, saga_graphs, saga_dfk):
        for source in Path(module.__file__ or "").parent.glob("*.py"):
            assert "structlog" not in source.read_text(), source


@pytest.mark.timeout(150)
def test_plan_writes_only_the_table_to_stdout(tmp_path: Path) -> None:
    """`saga-dfk plan GRAPH > out.txt`: no log line in out.txt, at any verbosity; -v logs go to stderr."""
    graph = str(_diamond(tmp_path))
    quiet = _cli(tmp_path, "plan", graph, "--nodes", "n1=1,n2=1")
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stdout.splitlines()
    assert lines[0].split() == ["task", "node", "slot", "start", "end"]
    assert lines[5].startswith("scheduler: HEFT  makespan: 3.000 s")
    assert lines[6:] == ["portfolio: {'HEFT': 3.0}"]  # the table, then the summary: nothing else
    assert quiet.stderr == ""  # warnings only by default, and there are none

    loud = _cli(tmp_path, "-v", "plan", graph, "--nodes", "n1=1,n2=1")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout == quiet.stdout
    assert not EVENT_LINE.search(loud.stdout)
    assert re.search(
        r"^INFO saga_graphs\._plan: plan\.done scheduler=HEFT .*tasks=4", loud.stderr, re.M
    ), loud.stderr

    debug = _cli(tmp_path, "plan", graph, "-vv", "--nodes", "n1=1,n2=1")  # after the subcommand too
    assert debug.stdout == quiet.stdout
    assert "DEBUG saga_graphs." in debug.stderr and "INFO saga_graphs._plan: plan.done" in debug.stderr

    failed = _cli(tmp_path, "-q", "plan", graph, "--scheduler", "NOPE")
    assert failed.returncode == 2 and failed.stdout == ""
    assert "NOPE" in failed.stderr


def test_verbosity_levels() -> None:
    assert log_level(0, False) == logging.WARNING
    assert log_level(1, False) == logging.INFO
    assert log_level(2, False) == logging.DEBUG
    assert log_level(3, False) == logging.DEBUG
    assert log_level(2, True) == logging.ERROR


@parsl.python_app
def _double(x: int) -> int:
    return x * 2


@pytest.mark.timeout(300)
def test_planning_events_land_in_the_runs_parsl_log(tmp_path: Path) -> None:
    """A real run with Parsl's own file logging: saga_dfk/saga_graphs/parsl_affinity_htex lines in parsl.log."""
    executor = LocalVirtualCluster({"node-a": 1, "node-b": 1}).executor(label="vc", encrypted=False)
    config = saga_dfk.SagaConfig(
        executors=[executor],
        min_nodes=2,
        node_wait_timeout=STARTUP_TIMEOUT_S,
        run_dir=str(tmp_path / "runinfo"),
        initialize_logging=True,
    )
    parsl_handlers = set(logging.getLogger("parsl").handlers)
    with saga_dfk.load(config) as dfk:
        joined = [h for h in logging.getLogger("saga_dfk").handlers if not isinstance(h, logging.NullHandler)]
        assert joined and all(h in logging.getLogger("parsl").handlers for h in joined)
        assert all(set(joined) <= set(logging.getLogger(n).handlers) for n in LIBRARY_LOGGERS)
        futures = [_double(i) for i in range(4)]
        dfk.execute()
        assert [f.result(timeout=120) for f in futures] == [0, 2, 4, 6]
        run_dir = Path(dfk.run_dir)
    # cleanup detached them again and restored the levels
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        assert [type(h) for h in logger.handlers] == [logging.NullHandler], name
        assert logger.level == logging.NOTSET, name
    assert set(logging.getLogger("parsl").handlers) == parsl_handlers
    text = (run_dir / "parsl.log").read_text()
    ours = [line for line in text.splitlines() if " saga_dfk." in line or " saga_graphs." in line]
    assert any("saga.loaded executor=vc scheduler=HEFT" in line for line in ours), text[-3000:]
    assert any("saga_graphs._plan" in line and "plan.done scheduler=HEFT" in line for line in ours)
    assert sum("task.assigned task=" in line for line in ours) == 4
    assert sum("task.ran task=" in line for line in ours) == 4
    assert re.search(r"parsl_affinity_htex\._executor.*executor\.started label=vc", text)
    assert "DataFlowKernel" in text  # beside Parsl's own lines
    # the children log to their own files, key=value, and nothing of theirs reaches a terminal
    interchange = (run_dir / "vc" / "affinity_interchange.log").read_text()
    assert re.search(
        r"^ts=\S+ \S+ level=INFO logger=parsl_affinity_htex\.interchange pid=\d+ interchange\.started ",
        interchange,
        re.M,
    )
    pools = list(run_dir.glob("vc/block-*/*/affinity_pool.log"))
    assert len(pools) == 2 and all("pool.starting node=" in p.read_text() for p in pools)


def _top_readme() -> Path:
    for base in [Path.cwd(), *Path(__file__).resolve().parents]:
        candidate = base / "README.md"
        if candidate.is_file() and "saga_dfk.load(config)" in candidate.read_text():
            return candidate
    raise AssertionError("the top-level README.md is not found (Pants: depend on //:readme)")


@pytest.mark.timeout(300)
def test_top_level_readme_example_prints_only_its_result(tmp_path: Path) -> None:
    """The README's Python example (a real LocalVirtualCluster run): its result on stdout, nothing else."""
    blocks = re.findall(r"^```python\n(.*?)^```", _top_readme().read_text(), re.S | re.M)
    code = next(b for b in blocks if "saga_dfk.load(config)" in b)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=280,
        env=dict(os.environ, PYTHONPATH=child_pythonpath()),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == str([2 * i for i in range(10)]) + "\n"
    assert proc.stderr == "", proc.stderr
    assert list(tmp_path.glob("runinfo/*/parsl.log"))  # the diagnostics went there instead
