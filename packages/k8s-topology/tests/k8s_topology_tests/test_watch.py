"""Watching nodes against a real HTTP API server.

kmock stands in for the kube-apiserver, which this machine cannot run; the official ``kubernetes``
client streams its watch over TCP (see conftest.py).
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

from .conftest import FakeApiServer, free_port, make_node

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


def test_watch_reports_added_deleted_not_ready_and_cordon(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"), make_node("cp", control_plane=True))
    core = apiserver.core()
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client()) as watcher:
        assert sorted(got.take(2)) == [("added", "w1"), ("added", "w2")]  # control plane is not watched
        core.create_node(make_node("w3", zone="zone-b"))
        assert got.next() == ("added", "w3")
        core.delete_node("w1")
        assert got.next() == ("removed", "w1")
        core.patch_node("w2", {"status": make_node("w2", ready="False")["status"]})
        ev = got.events.get(timeout=15)
        assert (ev.kind, ev.node.name, ev.usable) == ("not_ready", "w2", False)
        assert ev.previous is not None and ev.previous.ready
        core.patch_node("w3", {"spec": {"unschedulable": True}})
        assert got.next() == ("unschedulable", "w3")
        core.patch_node("w3", {"spec": {"unschedulable": False}})
        assert got.next() == ("schedulable", "w3")
        core.patch_node("w2", {"status": make_node("w2")["status"]})
        assert got.next() == ("ready", "w2")
        core.patch_node("w3", {"metadata": {"annotations": {kt.SPEED_KEY: "2"}}})
        ev = got.events.get(timeout=15)
        assert (ev.kind, ev.node.name, ev.node.default_speed()) == ("changed", "w3", 2.0)
        assert got.quiet()
        assert sorted(watcher.watch.nodes) == ["w2", "w3"]
    assert not watcher.running and watcher.error is None


def test_watch_survives_410_gone_by_relisting_and_emitting_the_diff(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"))

    def expire(_request: Any) -> bytes:
        # While the client's resourceVersion is expiring, w1 disappears without an event reaching it.
        _silently_delete(apiserver, "w1")
        return json.dumps(GONE).encode() + b"\n"  # the API server ends every watch event with a newline

    apiserver.on_loop(lambda: apiserver.km["watch v1/nodes"][0:1] << expire)
    got = Collector()
    with kt.NodeWatcher(got, apiserver.api_client()) as watcher:
        assert sorted(got.take(2)) == [("added", "w1"), ("added", "w2")]
        assert got.next() == ("removed", "w1")  # found by the re-list after 410
        apiserver.core().create_node(make_node("w4"))
        assert got.next() == ("added", "w4")  # and the watch goes on
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
        assert got.next() == ("added", "w1")
        apiserver.core().create_node(make_node("w2"))
        assert got.next() == ("added", "w2")
        assert watcher.watch.reconnects == 1 and watcher.watch.relists == 1


def test_unreachable_server_is_retried_with_backoff_until_stopped() -> None:
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    watch = kt.watch_nodes(client.ApiClient(cfg), backoff_initial=0.05, backoff_max=0.2, connect_timeout=1)
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
    watch = kt.watch_nodes(apiserver.api_client())
    assert next(watch).kind == "added"
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
        assert got.next() == ("added", "w1")
        deadline = time.monotonic() + 15
        while watcher.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not watcher.running
    finally:
        watcher.stop()
    assert isinstance(watcher.error, kt.KubernetesForbidden)
    assert str(watcher.error).startswith("watch nodes: forbidden")
    assert errors == [watcher.error]


def test_known_nodes_baseline_reports_only_changes_since_discovery(apiserver: FakeApiServer) -> None:
    apiserver.add_nodes(make_node("w1"), make_node("w2"))
    topo = kt.discover(apiserver.api_client())
    apiserver.core().patch_node("w2", {"spec": {"unschedulable": True}})
    watch = kt.watch_nodes(apiserver.api_client(), known=topo.nodes)
    try:
        ev = next(watch)
        assert (ev.kind, ev.node.name, ev.usable) == ("unschedulable", "w2", False)
    finally:
        watch.stop()

    quiet = kt.watch_nodes(apiserver.api_client(), initial_events=False)
    got: list[kt.NodeEvent] = []
    t = threading.Thread(target=lambda: got.extend(quiet), daemon=True)
    t.start()
    deadline = time.monotonic() + 15
    while sorted(quiet.nodes) != ["w1", "w2"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the first listing is done (and reported nothing)
    apiserver.core().create_node(make_node("w9"))
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    quiet.stop()
    t.join(10)
    assert [(e.kind, e.node.name) for e in got] == [("added", "w9")]


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
        assert got.next() == ("added", "w1")
        apiserver.core().create_node(make_node("w2"))
        assert got.next() == ("added", "w2")
        assert watcher.watch.relists == 1 and watcher.watch.reconnects == 0
        assert watcher.error is None
