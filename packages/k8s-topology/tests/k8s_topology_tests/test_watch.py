"""Watching nodes against a real HTTP API server: joined / lost / changed, resumable, stoppable.

kmock stands in for the kube-apiserver, which this machine cannot run; the official ``kubernetes``
client streams its watch over TCP (see conftest.py). kmock ignores label/field selectors and the watch's
resourceVersion, so selectors are checked client-side here (as the watch does anyway).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import pytest
from kubernetes import client

import k8s_topology as kt
from k8s_topology.testing import FakeApiServer

from .conftest import free_port, make_node

pytestmark = pytest.mark.timeout(120)

GONE = {
    "type": "ERROR",
    "object": {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "reason": "Expired",
        "code": 410,
        "message": "too old resource version: 1 (42)",
    },
}


class Collector:
    """A NodeWatcher callback that lets the test wait for specific events."""

    def __init__(self) -> None:
        self.events: queue.Queue[kt.NodeEvent] = queue.Queue()

    def __call__(self, event: kt.NodeEvent) -> None:
        self.events.put(event)

    def next(self, timeout: float = 15.0) -> tuple[str, str]:
        ev = self.events.get(timeout=timeout)
        return ev.kind, ev.node.name

    def reason(self, timeout: float = 15.0) -> tuple[str, str, str]:
        ev = self.events.get(timeout=timeout)
        return ev.kind, ev.node.name, ev.reason

    def take(self, n: int, timeout: float = 15.0) -> list[tuple[str, str]]:
        return [self.next(timeout) for _ in range(n)]

    def quiet(self, seconds: float = 0.5) -> bool:
        try:
            ev = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {ev.kind} {ev.node.name}")


def _silently_delete(server: FakeApiServer, name: str) -> None:
    """Remove a node from the server's store without a watch event (as if the event was missed)."""
    for key in list(server.km.objects):
        if key[2] == name:
            server.km.objects[key].delete()


def test_watch_reports_joined_lost_and_changed(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"), make_node("cp", control_plane=True))
    core = apiserver.core()
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client()) as watcher:
        assert sorted(got.take(2)) == [("joined", "w1"), ("joined", "w2")]  # the control plane does not count
        core.create_node(make_node("w3", zone="zone-b"))
        assert got.next() == ("joined", "w3")
        core.delete_node("w1")
        assert got.reason() == ("lost", "w1", "deleted")
        core.patch_node("w2", {"status": make_node("w2", ready="False")["status"]})
        assert got.reason() == ("lost", "w2", "NotReady (Ready=False (KubeletNotReady))")
        core.patch_node("w3", {"spec": {"unschedulable": True}})
        assert got.reason() == ("lost", "w3", "cordoned (spec.unschedulable=true)")
        core.patch_node("w3", {"spec": {"unschedulable": False}})
        assert got.reason() == ("joined", "w3", "usable again")
        core.patch_node("w2", {"status": make_node("w2")["status"]})
        assert got.next() == ("joined", "w2")
        core.patch_node("w3", {"metadata": {"annotations": {kt.SPEED_KEY: "2"}}})
        ev = got.events.get(timeout=15)
        assert (ev.kind, ev.node.name, ev.node.default_speed(), ev.reason) == (
            "changed",
            "w3",
            2.0,
            "annotations changed",
        )
        core.patch_node("w3", {"status": {"allocatable": {"cpu": "1", "memory": "16Gi", "pods": "110"}}})
        assert got.reason() == ("changed", "w3", "cpu changed")
        core.patch_node("cp", {"metadata": {"labels": {"extra": "1"}}})  # a node that does not count
        assert got.quiet()
        assert watcher.topology.names == ["w2", "w3"]
        assert "control-plane node" in watcher.topology.excluded["cp"]
    assert not watcher.running and watcher.error is None


def test_a_taint_and_a_label_leaving_the_selector_count_as_lost(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1", labels={"pool": "parsl"}), make_node("w2", labels={"pool": "parsl"}))
    core = apiserver.core()
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client(), node_filter=kt.NodeFilter(label_selector="pool=parsl")):
        assert sorted(got.take(2)) == [("joined", "w1"), ("joined", "w2")]
        core.patch_node("w1", {"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}})
        assert got.reason() == ("lost", "w1", "tainted maintenance:NoExecute")
        core.patch_node("w2", {"metadata": {"labels": {"pool": "other"}}})
        assert got.reason() == ("lost", "w2", "does not match label selector 'pool=parsl'")
        assert got.quiet()


def test_the_old_filter_keywords_fail_naming_node_filter(apiserver: FakeApiServer) -> None:
    with pytest.raises(TypeError, match=r"NodeWatch\(\) no longer takes exclude: pass node_filter="):
        kt.NodeWatch(apiserver.api_client(), exclude=["w1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no longer takes include_control_plane"):
        kt.NodeWatcher(print, apiserver.api_client(), include_control_plane=True)


def test_watch_survives_410_gone_by_relisting_and_emitting_the_diff(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"))

    def expire(_request: Any) -> bytes:
        # While the client's resourceVersion is expiring, w1 disappears without an event reaching it.
        _silently_delete(apiserver, "w1")
        return json.dumps(GONE).encode() + b"\n"  # the API server ends every watch event with a newline

    apiserver.on_loop(lambda: apiserver.km["watch v1/nodes"][0:1] << expire)
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client()) as watcher:
        assert sorted(got.take(2)) == [("joined", "w1"), ("joined", "w2")]
        assert got.reason() == ("lost", "w1", "deleted")  # found by the re-list after 410
        apiserver.core().create_node(make_node("w4"))
        assert got.next() == ("joined", "w4")  # and the watch goes on
        assert watcher.watch.relists == 1
        assert watcher.error is None
    watches = [r for r in apiserver.requests() if r.params.get("watch") == "true"]
    assert len(watches) >= 2


def test_watch_reconnects_after_a_server_error_and_relists(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"))
    apiserver.on_loop(
        lambda: apiserver.km["watch v1/nodes"][0:1]
        << 503
        << {"kind": "Status", "code": 503, "message": "etcd leader changed"}
    )
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client(), backoff_initial=0.05) as watcher:
        assert got.next() == ("joined", "w1")
        apiserver.core().create_node(make_node("w2"))
        assert got.next() == ("joined", "w2")
        assert watcher.watch.reconnects == 1 and watcher.watch.relists == 1


def test_unreachable_server_is_retried_with_backoff_until_stopped() -> None:
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    watch = kt.NodeWatch(client.ApiClient(cfg), backoff_initial=0.05, backoff_max=0.2, connect_timeout=1)
    events: list[kt.NodeEvent] = []
    thread = threading.Thread(target=lambda: events.extend(watch), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while watch.reconnects < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.reconnects >= 3
    watch.stop()
    thread.join(10)
    assert not thread.is_alive() and events == []


def test_stop_interrupts_a_blocked_watch_promptly(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"))
    watch = kt.NodeWatch(apiserver.api_client())
    assert next(watch).kind == "joined"
    done = threading.Event()

    def drain() -> None:
        for _ in watch:
            pass
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    time.sleep(0.5)  # now blocked reading an idle stream
    started = time.monotonic()
    watch.stop()
    assert done.wait(10)
    assert time.monotonic() - started < 5


def test_forbidden_watch_ends_the_stream_with_a_clear_error(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"))
    body = {
        "kind": "Status",
        "code": 403,
        "reason": "Forbidden",
        "message": 'nodes is forbidden: cannot watch resource "nodes"',
    }
    apiserver.on_loop(lambda: apiserver.km["watch v1/nodes"] << 403 << body)
    errors: list[BaseException] = []
    got = Collector()
    watcher = kt.NodeWatcher(got, apiserver.api_client(), on_error=errors.append).start()
    try:
        assert got.next() == ("joined", "w1")
        deadline = time.monotonic() + 15
        while watcher.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not watcher.running
    finally:
        watcher.stop()
    assert isinstance(watcher.error, kt.errors.KubernetesForbidden)
    assert str(watcher.error).startswith("watch nodes: forbidden")
    assert errors == [watcher.error]


def test_known_nodes_baseline_reports_only_changes_since_discovery(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"))
    topo = kt.discover(apiserver.api_client())
    apiserver.core().patch_node("w2", {"spec": {"unschedulable": True}})
    watch = kt.NodeWatch(apiserver.api_client(), known=topo)
    try:
        ev = next(watch)
        assert (ev.kind, ev.node.name, ev.reason) == ("lost", "w2", "cordoned (spec.unschedulable=true)")
    finally:
        watch.stop()

    quiet = kt.NodeWatch(apiserver.api_client(), initial_events=False)
    got: list[kt.NodeEvent] = []
    t = threading.Thread(target=lambda: got.extend(quiet), daemon=True)
    t.start()
    deadline = time.monotonic() + 15
    while quiet.topology.names != ["w1"] and time.monotonic() < deadline:  # w2 is cordoned
        time.sleep(0.05)  # the first listing is done (and reported nothing)
    apiserver.core().create_node(make_node("w9"))
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    quiet.stop()
    t.join(10)
    assert [(e.kind, e.node.name) for e in got] == [("joined", "w9")]


def test_a_callback_that_raises_does_not_stop_the_watch(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"))
    seen: list[str] = []

    def flaky(ev: kt.NodeEvent) -> None:
        seen.append(ev.node.name)
        if ev.node.name == "w1":
            raise RuntimeError("boom")

    with kt.NodeWatcher(flaky, apiserver.api_client()) as watcher:
        apiserver.core().create_node(make_node("w2"))
        deadline = time.monotonic() + 15
        while "w2" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == ["w1", "w2"] and watcher.running


def test_watch_request_answered_with_http_410_also_relists(apiserver: FakeApiServer) -> None:
    """Some API servers (and proxies) answer an expired watch with HTTP 410 instead of an ERROR event."""
    apiserver.add_nodes(make_node("w1"))
    apiserver.on_loop(lambda: apiserver.km["watch v1/nodes"][0:1] << 410 << GONE["object"])
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client(), backoff_initial=0.05) as watcher:
        assert got.next() == ("joined", "w1")
        apiserver.core().create_node(make_node("w2"))
        assert got.next() == ("joined", "w2")
        assert watcher.watch.relists == 1 and watcher.watch.reconnects == 0
        assert watcher.error is None
