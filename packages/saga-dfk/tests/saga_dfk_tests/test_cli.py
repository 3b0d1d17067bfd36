"""The saga-dfk CLI: plan and report without pools; the demo end to end on a real local virtual cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsl_affinity_htex import child_pythonpath
from saga_dfk._cli import main, parse_nodes
from saga_dfk._report import summarize_report


def _graph(tmp_path: Path) -> Path:
    graph = {
        "tasks": [{"name": n, "cost": c} for n, c in [("t1", 0.5), ("t2", 2.0), ("t3", 1.0), ("t4", 0.5)]],
        "dependencies": [
            {"source": "t1", "target": "t2", "size": 0.0},
            {"source": "t1", "target": "t3", "size": 0.0},
            {"source": "t2", "target": "t4", "size": 0.0},
            {"source": "t3", "target": "t4", "size": 0.0},
        ],
    }
    path = tmp_path / "diamond.json"
    path.write_text(json.dumps(graph))
    return path


def test_parse_nodes() -> None:
    assert parse_nodes("node-a=3, node-b=2") == {"node-a": 3, "node-b": 2}
    for bad, needle in [
        ("node-a", "NAME=SLOTS"),
        ("a=x", "'x'"),
        ("a=0", ">= 1"),
        ("a=1,a=2", "twice"),
        (",", "no node"),
    ]:
        with pytest.raises(ValueError, match=needle):
            parse_nodes(bad)


def test_plan_prints_a_valid_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schedule.json"
    gantt = tmp_path / "plan.html"
    code = main(
        ["plan", str(_graph(tmp_path)), "--nodes", "n1=1,n2=1", "--out", str(out), "--gantt", str(gantt)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "makespan: 3.000 s" in text  # t1 0.5 + t2 2.0 + t4 0.5, t3 in parallel on the other node
    schedule = json.loads(out.read_text())
    nodes = {p["task"]: p["node"] for p in schedule["placements"]}
    assert nodes["t2"] != nodes["t3"]
    assert (
        gantt.read_text().lstrip().lower().startswith("<!doctype html")
        or "<html" in gantt.read_text().lower()
    )


def test_plan_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(_graph(tmp_path)), "--scheduler", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing.json")]) == 2
    assert main(["plan", str(_graph(tmp_path)), "--nodes", "a=zero"]) == 2


@pytest.mark.parametrize(
    ("given", "shown"), [("heft", "HEFT"), ("Cpop", "CPOP"), ("cpop, heft", "portfolio")]
)
def test_plan_takes_scheduler_names_in_any_case(
    given: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(_graph(tmp_path)), "--nodes", "n1=1,n2=1", "--scheduler", given]) == 0
    assert shown in capsys.readouterr().out


def test_version_prints_the_four_packages_versions(capsys: pytest.CaptureFixture[str]) -> None:
    import k8s_topology
    import parsl_affinity_htex
    import saga_dfk
    import saga_graphs

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"saga-dfk {saga_dfk.__version__}",
        f"saga-graphs {saga_graphs.__version__}",
        f"parsl-affinity-htex {parsl_affinity_htex.__version__}",
        f"k8s-topology {k8s_topology.__version__}",
    ]


def _report(tmp_path: Path) -> Path:
    rows = []
    for tid, (pn, an, ps, pe, as_, ae) in enumerate(
        [("a", "a", 0.0, 1.0, 0.1, 1.2), ("b", "b", 0.0, 2.0, 0.1, 2.3), ("a", "b", 1.0, 2.0, 1.2, 2.4)]
    ):
        rows.append(
            {
                "id": tid,
                "name": f"t{tid}",
                "function": "f",
                "parents": [],
                "planned": {
                    "task_id": tid,
                    "function": "f",
                    "node": pn,
                    "start": ps,
                    "end": pe,
                    "round": 1,
                    "scheduler": "HEFT",
                    "slot": 0,
                },
                "actual": {"node": an, "start": as_, "end": ae, "hostname": "h"},
                "replanned": [{"from": "c", "to": pn, "reason": "node c lost", "at": 0.5, "round": 2}]
                if tid == 2
                else [],
                "status": "exec_done",
                "error": None,
            }
        )
    report = {
        "version": 1,
        "scheduler": "HEFT",
        "planning": "explicit",
        "t0": 0.0,
        "network": None,
        "rounds": [{}],
        "lost_nodes": ["c"],
        "planned_makespan": 2.0,
        "actual_makespan": 2.3,
        "fidelity": {
            "tasks_compared": 3,
            "on_planned_node": 2 / 3,
            "off_plan_tasks": [2],
            "makespan_ratio": 1.15,
        },
        "replanned_tasks": [2],
        "tasks": rows,
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(report))
    return path


def test_report_summarizes_and_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _report(tmp_path)
    assert main(["report", str(run)]) == 0
    text = capsys.readouterr().out
    assert "66.7% of 3 (off-plan: 1)" in text
    assert "re-planned after node loss: [2]" in text
    assert (tmp_path / "run.html").stat().st_size > 0
    assert "actual/planned makespan: 1.15" in summarize_report(json.loads(run.read_text()))


def test_report_rejects_other_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert main(["report", str(other)]) == 2
    assert "not a saga-dfk run report" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_demo_runs_end_to_end_and_writes_both_files(tmp_path: Path) -> None:
    """`python -m saga_dfk demo` on the embedded default cluster (real pools), as a user runs it."""
    report = tmp_path / "demo.json"
    env = dict(os.environ, PYTHONPATH=child_pythonpath())  # our child: it must find saga_dfk (Pants)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "saga_dfk", "demo", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for needle in [
        "== diamond",
        "== fork-join under SAGA planning (52 tasks",
        "stock HTEx placement",
        "fork-join planned makespan",
        "fork-join actual makespan under SAGA",
        "fork-join makespan under stock placement",
        "tasks on their planned node: 100.0%",
    ]:
        assert needle in out, f"{needle!r} missing from demo output:\n{out}"
    data = json.loads(report.read_text())
    assert len(data["tasks"]) == 4 + 52
    assert data["fidelity"]["off_plan_tasks"] == []
    assert report.with_suffix(".html").stat().st_size > 1000
    # the acceptance bound is 120 s on an idle machine; allow slack for parallel test files on 2 cores
    assert elapsed < 240, f"demo took {elapsed:.0f} s"


@pytest.mark.timeout(300)
def test_demo_with_kubeconfig_plans_on_the_cluster_topology(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--kubeconfig: nodes and bandwidths come from k8s-topology discovery (kmock stands in for the
    kube-apiserver, which cannot run here); pools mirror the discovered nodes locally."""
    from .conftest import FakeApiServer

    server = FakeApiServer()
    try:
        server.add_node("kw-1", "2", "zone-a")
        server.add_node("kw-2", "1", "zone-a")
        server.add_node("kw-3", "1", "zone-b")
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        report = tmp_path / "k8s.json"
        assert main(["demo", "--kubeconfig", kubeconfig, "--no-stock", "--report", str(report)]) == 0
    finally:
        server.close()
    out = capsys.readouterr().out
    assert "Kubernetes topology" in out and "kw-1" in out
    data = json.loads(report.read_text())
    assert {n["name"] for n in data["network"]["nodes"]} == {"kw-1", "kw-2", "kw-3"}
    links = {(lk["source"], lk["target"]): lk["bandwidth"] for lk in data["network"]["links"]}
    assert links[("kw-1", "kw-2")] > links[("kw-1", "kw-3")], "zone-local links are faster"
    assert {row["actual"]["node"] for row in data["tasks"]} <= {"kw-1", "kw-2", "kw-3"}
    assert data["fidelity"]["off_plan_tasks"] == []
