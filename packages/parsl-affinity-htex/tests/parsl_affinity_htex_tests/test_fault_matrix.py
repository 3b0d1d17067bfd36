"""Fault matrix on real processes: a real DFK, the affinity interchange process and real node-labelled worker
pools (``encrypted=False``, the explicit test mode). Each case provokes one fault -- a node whose pool has no
worker, pools SIGKILLed mid-task (one, or two of one node at once), a node never or only lately seen, a dead
interchange, a malformed affinity message, a saturated node next to idle ones, pools claiming nodes they
should not -- and asserts that no task hangs and every failure is typed and timely.

Cases that do not interfere share a cluster: one class per cluster, with a class-scoped fixture (torn down
when the class is done, so only one DFK exists at a time); destructive cases run last in their class. Extra
pools a case starts itself are SIGKILLed when it ends, pass or fail. Timing bounds are generous for a loaded
2-core machine but each is far from what the c6c897e code does (the numbers are in each case's docstring).
Futures are observed a little longer than their bound where the old behaviour ends in finite time, so a
failure reports what really happened, not just "too slow".
"""

from __future__ import annotations

import platform
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from parsl import python_app
from parsl.serialize import pack_apply_message

from parsl_affinity_htex import AffinityHighThroughputExecutor
from parsl_affinity_htex._spec import AFFINITY_CONTEXT_KEY
from parsl_affinity_htex._task import TASK_EXECUTOR
from parsl_affinity_htex.errors import AffinitySpecError, InterchangeLost, NodeUnavailable
from parsl_affinity_htex.worker_pool import resolve_node_name
from repo_support.waiting import wait_until

from .conftest import (
    GRACE_S,
    HEARTBEAT_THRESHOLD_S,
    STARTUP_TIMEOUT_S,
    RunningCluster,
    cleanup_with_deadline,
    running_cluster,
)
from .faults import ExtraPools, Watched, require, run_record_of

HB = float(HEARTBEAT_THRESHOLD_S)


@python_app
def where(parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006 - Parsl's convention
    from parsl_affinity_htex import current_node

    return current_node()


@python_app
def hold(
    marker: str,
    seconds: float,
    release: str = "",
    parsl_resource_specification: dict[str, Any] = {},  # noqa: B006
) -> str:
    """First run: write the node name to ``marker``, then wait ``seconds`` or until ``release`` exists.

    A re-run (the marker is already there: the first run's pool was lost) returns at once.
    """
    import pathlib
    import time

    from parsl_affinity_htex import current_node

    node = current_node()
    mark = pathlib.Path(marker)
    if mark.exists():
        return node
    mark.write_text(node)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (release and pathlib.Path(release).exists()):
        time.sleep(0.1)
    return node


def hard(node: str) -> dict[str, Any]:
    return {"node": node, "affinity": "hard"}


def soft(node: str) -> dict[str, Any]:
    return {"node": node, "affinity": "soft"}


def markers_exist(*paths: Path) -> bool:
    return all(p.exists() for p in paths)


# ----- no cluster: the insecure-transport warning and node-name resolution ----------------------------------


@pytest.mark.timeout(60)
def test_unencrypted_executor_warns_with_python_warnings() -> None:
    """Case 9a: ``encrypted=False`` emits an InsecureTransportWarning (a UserWarning) saying what is exposed.

    A log line is easy to miss; a Python warning reaches pytest summaries and ``-W error``. The message must
    say that whoever reaches the worker port can register a pool, receive pickled tasks and return pickled
    results the driver unpickles.

    c6c897e: no Python warning at all, only the structlog ``executor.unencrypted`` line ("no
    InsecureTransportWarning emitted"; the only warnings seen are ResourceWarnings about unclosed sockets).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AffinityHighThroughputExecutor(label="plain", encrypted=False)
    seen = [(w.category.__name__, str(w.message)) for w in caught]
    insecure = [w for w in caught if w.category.__name__ == "InsecureTransportWarning"]
    assert len(insecure) == 1, f"expected one InsecureTransportWarning; warnings seen: {seen}"
    category = insecure[0].category
    assert issubclass(category, UserWarning)
    text = str(insecure[0].message).lower()
    missing = [word for word in ("register", "pickle", "port") if word not in text]
    assert not missing, f"warning does not mention {missing}: {text}"

    from parsl_affinity_htex import errors

    assert errors.InsecureTransportWarning is category
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AffinityHighThroughputExecutor(label="secret")
    assert not [w for w in caught if issubclass(w.category, category)]


@pytest.mark.timeout(30)
def test_node_name_from_kubernetes_only_inside_kubernetes() -> None:
    """Case 9b: ``NODE_NAME`` names the node only in a Kubernetes pod; a CI runner's ``NODE_NAME`` does not.

    CI systems (Jenkins, ...) set ``NODE_NAME`` to the agent's name; a pool there would claim a wrong node.
    Without ``KUBERNETES_SERVICE_HOST`` the hostname wins; ``PARSL_NODE_NAME`` beats ``NODE_NAME`` always.

    c6c897e: ``resolve_node_name(None, {"NODE_NAME": "ci-runner"})`` returns ``'ci-runner'``, not the
    hostname (``AssertionError: assert 'ci-runner' == 'vm'``).
    """
    host = platform.node()
    ci_name = "ci-runner" if host != "ci-runner" else "ci-runner-2"
    assert resolve_node_name(None, {"NODE_NAME": ci_name}) == host
    k8s = {"NODE_NAME": "k8s-node", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert resolve_node_name(None, k8s) == "k8s-node"
    assert resolve_node_name(None, {**k8s, "PARSL_NODE_NAME": "parsl-node"}) == "parsl-node"
    assert resolve_node_name(None, {"NODE_NAME": ci_name, "PARSL_NODE_NAME": "parsl-node"}) == "parsl-node"


# ----- cluster A: a 0-worker node, absent and saturated nodes, then pools killed mid-task (destructive) -----

#: With cores_per_worker=2, the provider's PARSL_CORES=<slots> gives node-a/b/c one worker each, node-z none.
ZERO_NODES = {"node-a": 2, "node-b": 2, "node-c": 2, "node-z": 1}
REAL_NODES = frozenset({"node-a", "node-b", "node-c"})


@pytest.fixture(scope="class")
def cluster_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    def ready(executor: AffinityHighThroughputExecutor) -> bool:
        # node-z is never awaited in connected_nodes(): a node with no worker capacity is not live.
        live = set(executor.connected_nodes())
        return live.issuperset(REAL_NODES) and len(executor.connected_managers()) == len(ZERO_NODES)

    with running_cluster(
        tmp_path_factory.mktemp("fault-a"),
        ZERO_NODES,
        ready=ready,
        what="node-a/b/c in connected_nodes() and 4 managers",
        encrypted=False,
        cores_per_worker=2,
    ) as running:
        yield running


class TestClusterA:
    @pytest.mark.timeout(300)
    def test_zero_worker_node_is_not_live(self, cluster_a: RunningCluster) -> None:
        """Case 1: a pool that registered with 0 workers does not make its node live.

        node-z's pool registers (so it is a manager) but can run nothing: hard tasks for node-z must fail
        with NodeUnavailable within grace + heartbeat_threshold + 10 s, soft ones run on a real node,
        connected_nodes() leaves node-z out and affinity_stats().zero_worker_pools names node-z's pool.

        c6c897e: both tasks still pending when the 19.0 s window closes (they wait forever in node-z's queue:
        node-z counts as live with max_capacity 0, so neither fallback nor dispatch ever happens), and
        connected_nodes() lists ``ConnectedNode(name='node-z', slots=0, pools=1)``.
        """
        executor = cluster_a.executor
        window = GRACE_S + HB + 10
        hard_task = Watched(where(parsl_resource_specification=hard("node-z")), "hard task for node-z")
        soft_task = Watched(where(parsl_resource_specification=soft("node-z")), "soft task for node-z")
        hard_out = hard_task.settle(window)
        soft_out = soft_task.settle(window)
        nodes = executor.connected_nodes()
        require(
            hard_out.expect_error(NodeUnavailable, window),
            soft_out.expect_value(window, among=REAL_NODES),
            None if "node-z" not in nodes else f"connected_nodes() lists node-z: {nodes['node-z']}",
        )
        assert isinstance(hard_out.error, NodeUnavailable) and hard_out.error.node == "node-z"
        zero = executor.affinity_stats().zero_worker_pools
        assert isinstance(zero, tuple) and zero, zero
        assert all(isinstance(p, str) and "node-z" in p for p in zero), zero

    @pytest.mark.timeout(120)
    def test_never_seen_node_gets_a_grace_period_from_submission(self, cluster_a: RunningCluster) -> None:
        """Case 4: a node no pool ever claimed gets the full grace period, counted from the task's submission.

        Hard task for node-x fails with NodeUnavailable no earlier than grace - 1 s and no later than
        grace + 10 s after submission; the soft one starts on a real node no earlier than grace - 1 s.

        c6c897e: the hard task fails with NodeUnavailable after 0.0 s ("no live worker pool for 30.4s") and
        the soft one starts 0.005 s after submission: a never-seen node counts as absent since interchange
        start, which was long before (cluster start-up alone takes longer than the grace period).
        """
        window = GRACE_S + 10
        hard_task = Watched(where(parsl_resource_specification=hard("node-x")), "hard task for node-x")
        soft_task = Watched(where(parsl_resource_specification=soft("node-x")), "soft task for node-x")
        hard_out = hard_task.settle(window)
        soft_out = soft_task.settle(window)
        record = run_record_of(soft_task.fut)
        started_after = None if record is None else record.start - soft_task.submitted_epoch
        require(
            hard_out.expect_error(NodeUnavailable, window, not_before=GRACE_S - 1),
            soft_out.expect_value(window, among=REAL_NODES),
            None
            if started_after is not None and started_after >= GRACE_S - 1
            else f"soft task for node-x started {started_after}s after submission, before grace - 1 s",
        )

    @pytest.mark.timeout(180)
    def test_soft_task_on_saturated_node_is_stolen_by_an_idle_node(
        self, cluster_a: RunningCluster, tmp_path: Path
    ) -> None:
        """Case 8: a soft task queued behind a busy node runs on an idle node after the grace period.

        node-c's only worker is held by a hard task (up to 25 s); a soft task for node-c must complete on
        node-a/node-b within grace + 10 s, and affinity_stats().stolen counts it.

        c6c897e: still pending when the 13.0 s window closes; it waits in node-c's queue and runs there only
        once the blocker ends (25 s after it started, when not released).
        """
        executor = cluster_a.executor
        marker, release = tmp_path / "blocker", tmp_path / "release"
        blocker = Watched(
            hold(str(marker), 25.0, str(release), parsl_resource_specification=hard("node-c")), "blocker"
        )
        stolen: Watched | None = None
        try:
            wait_until(lambda: markers_exist(marker), 60, "the blocker to start on node-c")
            assert marker.read_text() == "node-c"
            stolen = Watched(where(parsl_resource_specification=soft("node-c")), "soft task for busy node-c")
            window = GRACE_S + 10
            require(stolen.settle(window).expect_value(window, among=REAL_NODES - {"node-c"}))
            assert executor.affinity_stats().stolen >= 1
        finally:
            release.touch()  # leave node-c idle for the next case, pass or fail
            blocker.settle(60)
            if stolen is not None:
                stolen.settle(60)

    @pytest.mark.timeout(300)
    def test_pool_killed_mid_task(self, cluster_a: RunningCluster, tmp_path: Path) -> None:
        """Case 2 (destructive, last on cluster A): pools SIGKILLed while tasks run on them.

        A hard task runs on node-b and a soft one on node-c; both pools are SIGKILLed (process groups).
        The hard task must fail with NodeUnavailable within heartbeat_threshold + 10 s of the kill; the soft
        one is re-run and completes on a surviving node.

        c6c897e: flaky -- passed 3 of 4 runs (hard task NodeUnavailable ~6 s after the kill, soft one re-run
        on node-a after ~9-10 s: expiry + grace) and failed 1: the hard task got upstream's ManagerLost after
        5.2 s. The override of expire_bad_managers takes ``now`` before upstream's own ``time.time()``; a pool
        crossing the threshold in between (here node-b, while node-c's tasks were being rescued) is expired
        by upstream with no rescue.
        """
        m_hard, m_soft = tmp_path / "hard", tmp_path / "soft"
        hard_task = Watched(
            hold(str(m_hard), 30.0, parsl_resource_specification=hard("node-b")), "hard@node-b"
        )
        soft_task = Watched(
            hold(str(m_soft), 30.0, parsl_resource_specification=soft("node-c")), "soft@node-c"
        )
        wait_until(lambda: markers_exist(m_hard, m_soft), 60, "both tasks to start")
        assert (m_hard.read_text(), m_soft.read_text()) == ("node-b", "node-c")

        killed_at = time.monotonic()
        cluster_a.provider.kill_node("node-b")
        cluster_a.provider.kill_node("node-c")
        hard_bound, soft_bound = HB + 10, HB + GRACE_S + 30
        require(
            hard_task.settle(hard_bound + 10, since=killed_at).expect_error(NodeUnavailable, hard_bound),
            soft_task.settle(soft_bound, since=killed_at).expect_value(soft_bound, among={"node-a"}),
        )


# ----- cluster B: hand-started pools (two of one node lost at once, a node seen late), malformed messages ---

#: Long enough to tell "failed at heartbeat expiry" from "failed after an extra grace period" (case 3), and to
#: give a late node's pool time to register (case 5).
GRACE_B = 25.0


@dataclass
class TimedCluster:
    running: RunningCluster
    started: float  # monotonic, just before the DFK (and so the interchange) started


@pytest.fixture(scope="class")
def cluster_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimedCluster]:
    started = time.monotonic()
    with running_cluster(
        tmp_path_factory.mktemp("fault-b"), {"node-a": 1}, encrypted=False, affinity_grace_period=GRACE_B
    ) as running:
        yield TimedCluster(running, started)


class TestClusterB:
    @pytest.mark.timeout(360)
    def test_two_pools_of_a_node_lost_at_once(self, cluster_b: TimedCluster, tmp_path: Path) -> None:
        """Case 3: both pools of node-b2 are SIGKILLed together while each runs a hard task.

        Once heartbeats expire the node has no live pool, so both tasks must fail with NodeUnavailable
        within heartbeat_threshold + 5 s of the kill -- not after an extra grace period.

        c6c897e: the first expired pool's hard task is re-queued because the sibling pool still counts as
        live; the second pool's task then fails at once (~6 s after the kill), but the re-queued one waits
        out the grace period: NodeUnavailable after 30.7 s ("no live worker pool for 25.0s"), bound 11 s.
        """
        executor = cluster_b.running.executor
        with ExtraPools(executor, tmp_path / "pools") as pools:
            first, second = pools.start("node-b2"), pools.start("node-b2")
            wait_until(
                lambda: (n := executor.connected_nodes().get("node-b2")) is not None and n.pools == 2,
                STARTUP_TIMEOUT_S,
                "two node-b2 pools to register",
            )
            runs = [tmp_path / f"run{i}" for i in range(2)]
            tasks = [
                Watched(hold(str(run), 60.0, parsl_resource_specification=hard("node-b2")), f"hard task {i}")
                for i, run in enumerate(runs)
            ]
            wait_until(lambda: markers_exist(*runs), 60, "a hard task to start on each node-b2 pool")

            killed_at = pools.kill(first, second)
            bound = HB + 5
            require(
                *(
                    t.settle(HB + GRACE_B + 15, since=killed_at).expect_error(NodeUnavailable, bound)
                    for t in tasks
                )
            )

    @pytest.mark.timeout(240)
    def test_node_seen_late_still_gets_its_grace_period(
        self, cluster_b: TimedCluster, tmp_path: Path
    ) -> None:
        """Case 5: a hard task for a node whose first pool starts after it, long after interchange start.

        Submitted > grace + 15 s after the cluster started; node-late's pool starts 2 s later; the task must
        run on node-late.

        c6c897e: NodeUnavailable after 0.0 s ("no live worker pool for 41.8s (grace period 25s)"): a
        never-seen node's grace is timed from interchange start.
        """
        executor = cluster_b.running.executor
        wait_for = cluster_b.started + GRACE_B + 15 - time.monotonic()
        if wait_for > 0:
            time.sleep(wait_for)  # the scenario itself: the interchange has been up for longer than grace
        task = Watched(where(parsl_resource_specification=hard("node-late")), "hard task for node-late")
        with ExtraPools(executor, tmp_path / "pools") as pools:
            time.sleep(2.0)
            pools.start("node-late")
            window = GRACE_B + 30
            require(task.settle(window).expect_value(window, among={"node-late"}))

    @pytest.mark.timeout(240)
    def test_malformed_affinity_message_fails_only_its_task(self, cluster_b: TimedCluster) -> None:
        """Case 7 (last on cluster B: on c6c897e it kills the interchange): malformed affinity tuples.

        Submit-time validation is bypassed with ``submit_payload``: a 3-tuple and an unhashable node. Each
        future must fail with AffinitySpecError within 10 s, the interchange must stay alive, and a normal
        task submitted afterwards must complete.

        c6c897e: the interchange process exits with code 1 on the first message (``node, _hard = affinity``
        raises ValueError in its main loop); the watchdog fails both futures with InterchangeLost after
        0.3 s, and the follow-up task fails with InterchangeLost at once.
        """
        executor = cluster_b.running.executor
        proc = executor.interchange_proc
        assert proc is not None and proc.poll() is None
        buffer = pack_apply_message(platform.node, (), {}, buffer_threshold=1 << 20)

        def context(affinity: Any) -> dict[str, Any]:
            return {"task_executor": {"f": TASK_EXECUTOR}, AFFINITY_CONTEXT_KEY: affinity}

        bad = [
            Watched(executor.submit_payload(context(("node-a", True, "extra")), buffer), "3-tuple affinity"),
            Watched(executor.submit_payload(context((["node-a"], True)), buffer), "unhashable node"),
        ]
        outcomes = [b.settle(10) for b in bad]
        alive = proc.poll() is None
        follow_up = Watched(where(parsl_resource_specification=hard("node-a")), "normal task afterwards")
        require(
            *(o.expect_error(AffinitySpecError, 10) for o in outcomes),
            None if alive else f"interchange process exited with code {proc.returncode}",
            follow_up.settle(60).expect_value(60, among={"node-a"}),
        )
        assert proc.poll() is None


# ----- cluster C: the interchange is SIGKILLed (destroys the cluster) ---------------------------------------


@pytest.fixture(scope="class")
def cluster_c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    with running_cluster(tmp_path_factory.mktemp("fault-c"), {"node-a": 2}, encrypted=False) as running:
        yield running


class TestClusterC:
    @pytest.mark.timeout(300)
    def test_interchange_killed_mid_task(self, cluster_c: RunningCluster, tmp_path: Path) -> None:
        """Case 6: the interchange process is SIGKILLed while tasks run and wait.

        Every outstanding future (running, queued tagged, queued untagged) fails with InterchangeLost within
        10 s, and DFK cleanup returns within 30 s.

        c6c897e: passes (marker wait, kill, all four failures and cleanup together take 2.8 s); kept as the
        baseline of the matrix.
        """
        runs = [tmp_path / f"run{i}" for i in range(2)]
        tasks = [
            Watched(hold(str(run), 60.0, parsl_resource_specification=hard("node-a")), f"running {i}")
            for i, run in enumerate(runs)
        ]
        tasks.append(
            Watched(hold(str(tmp_path / "q"), 60.0, parsl_resource_specification=soft("node-a")), "queued")
        )
        tasks.append(Watched(hold(str(tmp_path / "u"), 60.0), "queued untagged"))
        wait_until(lambda: markers_exist(*runs), 60, "two tasks to start on node-a")

        proc = cluster_c.executor.interchange_proc
        assert proc is not None
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        require(*(t.settle(20, since=killed_at).expect_error(InterchangeLost, 10) for t in tasks))
        cleanup_with_deadline(cluster_c.dfk, 30)


# ----- own cluster: an allow-list of nodes; pools claiming other or extra nodes are refused -----------------


@pytest.mark.timeout(300)
def test_pools_outside_the_allow_list_are_rejected(tmp_path: Path) -> None:
    """Case 9c: with ``allowed_nodes={"node-a": 1, "node-b": 1}`` a pool claiming node-evil, and a second pool
    claiming node-a, are refused: connected_nodes() never lists node-evil, node-a keeps pools == 1 and
    affinity_stats().rejected_pools names both.

    Unencrypted, anyone who reaches the worker port can register a pool under any node name and receive that
    node's tasks; the allow-list bounds which names and how many pools per name.

    c6c897e: TypeError at construction (HighThroughputExecutor.__init__() got an unexpected keyword argument
    'allowed_nodes').
    """
    allowed = {"node-a": 1, "node-b": 1}
    with (
        running_cluster(tmp_path / "run", allowed, encrypted=False, allowed_nodes=allowed) as cluster,
        ExtraPools(cluster.executor, tmp_path / "pools") as pools,
    ):
        executor = cluster.executor
        assert len(executor.affinity_stats().rejected_pools) == 0  # fail fast if the API is missing
        pools.start("node-evil")
        pools.start("node-a")
        seen_nodes: set[str] = set()
        most_node_a_pools = 0

        def observe() -> bool:
            nonlocal most_node_a_pools
            nodes = executor.connected_nodes()
            seen_nodes.update(nodes)
            most_node_a_pools = max(most_node_a_pools, nodes["node-a"].pools if "node-a" in nodes else 0)
            accepted_a_rogue = "node-evil" in nodes or most_node_a_pools > 1
            return accepted_a_rogue or len(executor.affinity_stats().rejected_pools) >= 2

        wait_until(observe, STARTUP_TIMEOUT_S, "both extra pools to be rejected (or to register)")
        for _ in range(10):  # keep watching a little: a rejected pool must not show up later
            observe()
            time.sleep(0.2)
        rejected = tuple(executor.affinity_stats().rejected_pools)
        require(
            None if "node-evil" not in seen_nodes else "connected_nodes() listed node-evil",
            None if most_node_a_pools == 1 else f"node-a had up to {most_node_a_pools} pools",
            None
            if any("node-evil" in p for p in rejected) and any("node-a" in p for p in rejected)
            else f"rejected_pools does not name node-evil and node-a: {rejected}",
        )
