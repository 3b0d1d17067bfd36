"""What a Parsl user sees: per-call planning hints and the live view, on a real local virtual cluster.

One SagaDataFlowKernel on two 1-slot virtual nodes, with Parsl monitoring on (MonitoringHub, SQLite):

* a task hinted 50x heavier (``parsl_resource_specification={"cost": 50.0}``) gets a node to itself and a
  planned duration 50x the others'; the hint keys never reach the executor (which accepts only its own);
* a bad hint fails its task with InvalidTaskHintError naming the value;
* a 12-task run with ``report_path`` rewrites ``<stem>.live.html`` during the run: two mid-run copies
  and the final file are read both as HTML text and as the DOM headless Chromium renders (skipped, with
  the reason, when no chromium binary is installed: Debian/Ubuntu package ``chromium``);
* cleanup() adds the planned and actual node of every task to Parsl's monitoring database (``saga_task``).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from parsl.monitoring import MonitoringHub

from repo_support.waiting import wait_until
from saga_dfk import SagaDataFlowKernel
from saga_dfk.errors import InvalidTaskHintError

from .conftest import start_kernel, stop_kernel

NODES = {"node-a": 1, "node-b": 1}
pytestmark = pytest.mark.timeout(400)


def make_work() -> Any:
    """A sleeping app that takes ``parsl_resource_specification`` (built here: serialized by value)."""
    from parsl import python_app

    def work(seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006
        import time as _time

        from parsl_affinity_htex import current_node

        _time.sleep(seconds)
        return current_node()

    return python_app(work)


class Run:
    def __init__(self, dfk: SagaDataFlowKernel, provider: Any, tmp: Path) -> None:
        self.dfk, self.provider, self.tmp = dfk, provider, tmp
        self.work = make_work()
        self.snapshots: list[Path] = []

    def finish(self) -> None:
        if not self.dfk.cleanup_called:
            stop_kernel(self.dfk, self.provider)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("live")
    dfk, provider = start_kernel(
        tmp,
        NODES,
        planning="explicit",
        report_path=str(tmp / "run.json"),
        live_report_interval=0.5,
        monitoring=MonitoringHub(
            logging_endpoint=f"sqlite:///{tmp / 'monitoring.db'}", resource_monitoring_enabled=False
        ),
    )
    r = Run(dfk, provider, tmp)
    try:
        yield r
    finally:
        r.finish()


# ---------------------------------------------------------------------------------------------- hints
def test_a_hint_changes_the_plan(run: Run) -> None:
    dfk, work = run.dfk, run.work
    heavy = work(0.1, parsl_resource_specification={"cost": 50.0})
    light = [work(0.1) for _ in range(5)]
    dfk.execute()
    assert heavy.result(timeout=120) in NODES
    assert all(f.result(timeout=120) in NODES for f in light)
    h = dfk.saga_assignments[heavy.tid]
    lights = [dfk.saga_assignments[f.tid] for f in light]
    # UniformCostModel says 1.0 for every task; the hint says 50 for this call only
    assert h.end - h.start == pytest.approx(50 * (lights[0].end - lights[0].start), rel=1e-6)
    assert all(a.node != h.node for a in lights), "the heavy task gets its node to itself"
    assert sorted(a.start for a in lights) == pytest.approx(
        [i * (lights[0].end - lights[0].start) for i in range(5)], abs=1e-6
    ), "the five light tasks queue on the other node"
    # the hint keys never reach the executor; the kwargs Parsl hashes for memoization hold neither the
    # hints nor the plan (what the caller wrote, minus saga-dfk's own keys)
    assert set(heavy.task_record["resource_specification"]) == {"node", "priority", "affinity"}
    assert heavy.task_record["kwargs"]["parsl_resource_specification"] == {}


def test_a_bad_hint_fails_the_task_naming_the_value(run: Run) -> None:
    bad = run.work(0.0, parsl_resource_specification={"cost": -3.5})
    exc = bad.exception(timeout=60)
    assert isinstance(exc, InvalidTaskHintError), repr(exc)
    assert "'cost'" in str(exc) and "-3.5" in str(exc) and f"task {bad.tid}" in str(exc)
    assert bad.tid not in run.dfk.saga_assignments, "never planned"


# ---------------------------------------------------------------------------------------------- live view
class _Dom(HTMLParser):
    """What the assertions need from a live page (raw HTML or Chromium's serialized DOM)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.now_x: float | None = None
        self.now_t: float | None = None
        self.planned_bars = self.actual_bars = 0
        self.refresh = False
        self.utilisation_rows: list[str] = []
        self.predicted = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "line" and a.get("id") == "now":
            self.now_x, self.now_t = float(a["x1"]), float(a["data-time"])
        if tag == "line" and a.get("id") == "predicted-finish":
            self.predicted = True
        if tag == "rect" and "bar" in a.get("class", "").split():
            if "planned" in a["class"].split():
                self.planned_bars += 1
            else:
                self.actual_bars += 1
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.refresh = True
        if tag == "tr" and "data-node" in a:
            self.utilisation_rows.append(a["data-node"])


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _rendered_dom(browser: str, page: Path, profile: Path) -> str:
    out = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def test_live_html_follows_the_run(run: Run) -> None:
    dfk, work = run.dfk, run.work
    live = dfk.saga_live_report_path
    assert live is not None and live.name == "run.live.html"
    futures = []
    for i in range(12):
        seconds = 0.5 + 0.1 * (i % 6)
        fut = work(seconds)
        dfk.declare_cost(fut, cost=seconds)  # declared after construction, per task id
        futures.append(fut)
    done_before = dfk.progress()["done"]
    dfk.execute()
    # mid-run snapshot 1: once a task of this run finished; snapshot 2 two seconds later
    wait_until(lambda: dfk.progress()["done"] > done_before, 60, "a first task of the run to finish")
    time.sleep(0.8)  # one more rewrite (every 0.5 s) after that
    progress_a = dfk.progress()
    first = run.tmp / "mid-1.html"
    shutil.copyfile(live, first)
    time.sleep(2.0)
    progress_b = dfk.progress()
    second = run.tmp / "mid-2.html"
    shutil.copyfile(live, second)
    assert (
        progress_b["done"] < progress_b["total"] - progress_b["failed"]
    ), f"run over too early: {progress_b}"
    for p in (progress_a, progress_b):
        assert (
            set(p["nodes"]) <= set(NODES) and p["elapsed"] is not None and p["predicted_finish"] is not None
        )
        assert p["done"] + p["failed"] + p["running"] + p["held"] <= p["total"]
    assert progress_b["elapsed"] > progress_a["elapsed"]
    assert all(f.result(timeout=120) in NODES for f in futures)
    run.finish()  # cleanup(): the final page
    final = live
    run.snapshots = [first, second, final]

    tasks = len(dfk.saga_assignments)
    assert tasks == 6 + 12
    texts = [p.read_text() for p in run.snapshots]
    doms: list[tuple[str, list[str]]] = [("raw HTML", texts)]
    browser = _chromium()
    if browser is not None:
        doms.append(
            (
                "Chromium DOM",
                [_rendered_dom(browser, p, run.tmp / f"chrome-{i}") for i, p in enumerate(run.snapshots)],
            )
        )
    for how, pages in doms:
        a, b, end = (_Dom(t) for t in pages)
        assert a.now_x is not None and b.now_x is not None, how
        assert b.now_x > a.now_x and b.now_t is not None and a.now_t is not None and b.now_t > a.now_t, how
        assert a.refresh and b.refresh, f"{how}: live pages reload themselves"
        assert not end.refresh, f"{how}: the final page has no refresh"
        assert end.planned_bars == tasks == end.actual_bars, how
        assert set(end.utilisation_rows) == set(NODES) and end.predicted, how
    if browser is None:
        pytest.skip("no chromium binary (apt-get install -y chromium): checked the raw HTML only")


def test_monitoring_database_has_planned_and_actual_nodes(run: Run) -> None:
    run.finish()
    db = sqlite3.connect(run.tmp / "monitoring.db")
    try:
        rows = db.execute(
            "SELECT task_id, planned_node, actual_node, outcome FROM saga_task WHERE run_id = ?",
            (run.dfk.run_id,),
        ).fetchall()
        joined = db.execute(
            "SELECT count(DISTINCT t.task_id) FROM task t JOIN saga_task s USING (run_id, task_id)"
        ).fetchone()[0]
    finally:
        db.close()
    planned = {tid: (p, a) for tid, p, a, outcome in rows if p is not None}
    assert len(rows) == 19 and len(planned) == 18, rows  # 18 planned tasks + the one with a bad hint
    assert all(p in NODES and a in NODES for p, a in planned.values())
    for tid, a in run.dfk.saga_assignments.items():
        assert planned[tid][0] == a.node
    assert joined == 19, "rows join Parsl's own task table on (run_id, task_id)"
