"""Tier 1 fixture tests: the namespace "hosts" are separate, shaped as asked, and always torn down.

These run as root only (skipped with the reason otherwise); they touch nothing outside the namespaces,
veths and bridge they create.
"""

from __future__ import annotations

import ipaddress
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence

import pytest

from repo_support.netns import (
    NAMESPACE_PREFIX,
    NetnsCluster,
    NetnsError,
    measure_upload,
    pick_free_subnet,
    sweep_stale,
    unavailable_reason,
)
from repo_support.pools import child_env
from repo_support.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}


def test_pick_free_subnet_avoids_every_used_network() -> None:
    used = [ipaddress.IPv4Network(f"10.{a}.0.0/16") for a in range(64, 255) if a != 200]
    chosen = pick_free_subnet(used, rng=random.Random(7), attempts=5000)
    assert chosen.prefixlen == 24
    assert str(chosen).startswith("10.200.")


def test_pick_free_subnet_fails_naming_the_problem_when_all_taken() -> None:
    with pytest.raises(NetnsError, match="no free 10.x.y.0/24"):
        pick_free_subnet([ipaddress.IPv4Network("10.0.0.0/8")], attempts=20)


@pytest.mark.parametrize("names", [[], ["a", "a"], ["Node_A"]])
def test_bad_node_names_are_rejected(names: list[str]) -> None:
    with pytest.raises(ValueError):
        NetnsCluster(node_names=names)


def test_nodes_have_own_addresses_and_reach_only_the_bridge(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
) -> None:
    cluster = netns_factory(["node-a", "node-b"])
    assert cluster.subnet is not None
    addresses = {n.address for n in cluster.nodes.values()}
    assert len(addresses) == 2 and cluster.driver_address not in addresses
    assert all(ipaddress.ip_address(a) in cluster.subnet for a in addresses)
    node = cluster.node("node-a")
    # Inside the namespace there is exactly one route: the bridge subnet. No default route, no way out.
    routes = subprocess.run(
        [*node.exec_prefix(), "ip", "-4", "route"], capture_output=True, text=True, check=True
    )
    assert routes.stdout.split()[0] == str(cluster.subnet)
    assert "default" not in routes.stdout
    # The node really sees its own address as the source towards the driver.
    probe = subprocess.run(
        [
            *node.exec_prefix(),
            sys.executable,
            "-c",
            f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('{cluster.driver_address}', 9)); print(s.getsockname()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == node.address


def test_two_clusters_at_once_get_distinct_names_and_subnets(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
) -> None:
    first = netns_factory(["node-a"])
    second = netns_factory(["node-a"])
    assert first.subnet is not None and second.subnet is not None
    assert not first.subnet.overlaps(second.subnet)
    assert first.node("node-a").namespace != second.node("node-a").namespace
    assert first.bridge != second.bridge


def test_shaping_slows_only_the_shaped_link(netns_factory: Callable[[Sequence[str]], NetnsCluster]) -> None:
    cluster = netns_factory(["node-a", "node-d"])
    cluster.shape("node-d", 20)
    assert "tbf" in cluster.qdisc("node-d") and "tbf" not in cluster.qdisc("node-a")
    fast = measure_upload(cluster, "node-a")
    slow = measure_upload(cluster, "node-d")
    print(
        f"\nmeasured upload: node-a {fast * 8 / 1e6:.0f} Mbit/s, node-d (tbf 20mbit) {slow * 8 / 1e6:.1f} Mbit/s"
    )
    assert 12e6 / 8 < slow < 24e6 / 8, f"shaped link ran at {slow * 8 / 1e6:.1f} Mbit/s, expected ~20"
    assert fast > 10 * slow


def test_shape_rejects_nonpositive_rate(netns_factory: Callable[[Sequence[str]], NetnsCluster]) -> None:
    cluster = netns_factory(["node-a"])
    with pytest.raises(ValueError, match="rate_mbit must be > 0, got 0"):
        cluster.shape("node-a", 0)
    with pytest.raises(KeyError, match="unknown node 'node-x'"):
        cluster.shape("node-x", 10)


def test_destroy_removes_namespaces_links_and_processes(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
) -> None:
    cluster = netns_factory(["node-a", "node-b"])
    sleeper = cluster.spawn("node-b", ["sleep", "300"])
    created = {n.namespace for n in cluster.nodes.values()}
    links = {cluster.bridge} | {n.host_veth for n in cluster.nodes.values()}
    assert created <= _namespaces() and links <= _links()
    cluster.destroy()
    cluster.destroy()  # idempotent
    assert sleeper.wait(timeout=5) != 0
    assert not created & _namespaces()
    assert not links & _links()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_test_process_tears_down(signum: int) -> None:
    """A run killed by Ctrl-C or SIGTERM (CI cancel) must not leave namespaces behind."""
    script = textwrap.dedent(
        """
        import sys, time
        from repo_support.netns import NetnsCluster
        cluster = NetnsCluster(node_names=["node-a", "node-b"]).create()
        cluster.spawn("node-a", ["sleep", "300"])
        print("CLUSTER", cluster.bridge, *[n.namespace for n in cluster.nodes.values()], flush=True)
        time.sleep(300)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        assert child.stdout is not None
        line = ""
        while not line.startswith("CLUSTER "):
            line = child.stdout.readline()
            assert line, "child exited before building its cluster"
        names = line.split()[1:]
        assert len(names) == 3, f"child did not build its cluster: {names}"
        assert set(names[1:]) <= _namespaces()
        child.send_signal(signum)
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    wait_until(
        lambda: not (set(names[1:]) & _namespaces() or names[0] in _links()),
        5,
        "the child's namespaces and bridge to go",
        period=0.1,
    )
    assert not set(names[1:]) & _namespaces()
    assert names[0] not in _links()
    assert all(n.startswith(NAMESPACE_PREFIX) for n in names[1:])


def test_leftovers_of_a_dead_run_are_swept(netns_available: None) -> None:
    """A namespace named after a process that no longer exists is removed by the next run."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"{NAMESPACE_PREFIX}{dead.pid}-dead-node-a"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in _namespaces()
        sweep_stale()  # (a concurrent run may sweep it first: either way it must be gone)
        assert name not in _namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def test_non_root_gets_a_skip_reason_naming_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """What CI shows when tier 1 cannot run: the reason, not a silent pass."""
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert unavailable_reason() == "network namespaces need root (euid is 1000)"
