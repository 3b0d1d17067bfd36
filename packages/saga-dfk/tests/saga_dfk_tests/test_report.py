"""Run reports that tell the truth, from a real run on a real local virtual cluster (no mocks):
one task raises, one depends on it (dependency failure), two succeed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import saga_graphs
from saga_dfk import SagaDataFlowKernel
from saga_dfk._cli import main
from saga_dfk._demo import schedule_from_report
from saga_dfk._report import PLANNED_MAKESPAN_DEFINITION, gantt_tasks, load_report, summarize_report

from .conftest import make_apps, start_kernel, stop_kernel

NODES = {"node-a": 1, "node-b": 1}
pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def failing_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], dict[str, int], Path]]:
    tmp = tmp_path_factory.mktemp("report")
    dfk, provider = start_kernel(tmp, NODES, planning="explicit")
    try:
        assert isinstance(dfk, SagaDataFlowKernel)
        apps = make_apps()
        ok = apps.node_task(seconds=0.1)
        bad = apps.fail("boom 42: the input was empty")
        dep = apps.node_task(bad)  # never runs: its dependency failed
        after = apps.node_task(ok)
        dfk.set_task_label(bad, "load-input")
        dfk.set_task_label(ok, "warm")
        dfk.execute()
        assert after.result(timeout=120)[1] == 2
        assert isinstance(bad.exception(timeout=120), ValueError)
        assert dep.exception(timeout=120) is not None
        report = dfk.run_report()
        ids = {"ok": ok.tid, "bad": bad.tid, "dep": dep.tid, "after": after.tid}
        path = dfk.write_report(tmp / "run.json")
    finally:
        stop_kernel(dfk, provider)
    yield report, ids, path


def _row(report: dict[str, Any], tid: int) -> dict[str, Any]:
    return next(r for r in report["tasks"] if r["id"] == tid)


def test_failed_task_error_has_type_and_message(
    failing_run: tuple[dict[str, Any], dict[str, int], Path],
) -> None:
    report, ids, _ = failing_run
    bad = _row(report, ids["bad"])
    assert bad["outcome"] == "failed" and bad["status"] == "failed"
    assert bad["error"] == {"type": "ValueError", "message": "boom 42: the input was empty"}
    assert bad["label"] == "load-input" and bad["function"] == "fail"
    dep = _row(report, ids["dep"])
    assert dep["outcome"] == "dep_failed"
    assert dep["error"]["type"] == "DependencyError"
    assert str(ids["bad"]) in dep["error"]["message"]
    for key in ("ok", "after"):
        assert _row(report, ids[key])["outcome"] == "done" and _row(report, ids[key])["error"] is None


def test_counts_and_summary(failing_run: tuple[dict[str, Any], dict[str, int], Path]) -> None:
    report, _, path = failing_run
    assert report["counts"] == {"done": 2, "failed": 1, "dep_failed": 1, "not_finished": 0}
    text = summarize_report(load_report(path))
    assert "outcomes: 2 done, 1 failed, 1 dependency-failed" in text
    assert re.search(r"failed: t\d+ load-input: ValueError: boom 42: the input was empty", text)
    assert re.search(r"dep-failed: t\d+ node_task: DependencyError: ", text)


def test_planned_makespan_says_what_it_covers(
    failing_run: tuple[dict[str, Any], dict[str, int], Path],
) -> None:
    report, _, path = failing_run
    planned = [r["planned"] for r in report["tasks"] if r["planned"]]
    assert len(planned) == 4
    lo, hi = min(p["start"] for p in planned), max(p["end"] for p in planned)
    assert report["planned_makespan"] == pytest.approx(hi - lo)
    covers = report["planned_makespan_covers"]
    assert covers["tasks"] == 4
    assert covers["definition"] == PLANNED_MAKESPAN_DEFINITION.format(what="4 planned tasks in this report")
    assert "from the first planned start to the last planned end, on the plan clock" in covers["definition"]
    text = summarize_report(load_report(path))
    line = next(x for x in text.splitlines() if x.startswith("planned makespan:"))
    assert f"{hi - lo:.2f} s = planned span of the 4 planned tasks in this report" in line
    assert f"first planned start ({lo:.2f} s)" in line and f"last planned end ({hi:.2f} s)" in line


def test_chart_of_the_run_marks_failures(
    failing_run: tuple[dict[str, Any], dict[str, int], Path], tmp_path: Path
) -> None:
    report, ids, _ = failing_run
    schedule, actual = schedule_from_report(report)
    text = saga_graphs.gantt_html(
        schedule, tmp_path / "g.html", actual, tasks=gantt_tasks(report)
    ).read_text()
    svg = ET.fromstring(text[text.index("<svg") : text.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"
    marks = [r for r in svg.iter(f"{ns}rect") if "status-mark" in (r.get("class") or "")]
    assert any("dep_failed" in (m.get("class") or "").split() for m in marks)
    assert any("failed" in (m.get("class") or "").split() for m in marks)
    bars = [r for r in svg.iter(f"{ns}rect") if "bar" in (r.get("class") or "").split()]
    assert len({b.get("fill") for b in bars}) == 2  # node_task and fail, not one colour per task id
    assert f"(task t{ids['bad']}, fail)" in text and "ValueError: boom 42" in text


def test_report_cli_refuses_to_overwrite(
    failing_run: tuple[dict[str, Any], dict[str, int], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, path = failing_run
    run = tmp_path / "run.json"
    run.write_text(json.dumps(load_report(path)))
    html = tmp_path / "run.html"
    html.write_text("the demo's chart")
    assert main(["report", str(run)]) == 2
    assert "exists" in capsys.readouterr().err and html.read_text() == "the demo's chart"
    assert main(["report", str(run), "--gantt", str(tmp_path / "other.html")]) == 0
    assert (tmp_path / "other.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(run), "--force"]) == 0
    out = capsys.readouterr().out
    assert "1 failed, 1 dependency-failed" in out and html.read_text().startswith("<!DOCTYPE html>")
