"""Fixtures of the end-to-end tiers: namespace "hosts", a kube-apiserver stand-in, a witness, a run dir.

Nothing here exports PYTHONPATH: the processes our code starts get this process's import path from their
launcher (the executor's default commands, the virtual cluster) or, when a test starts them by hand, from
``repo_support.pools.child_env``.

The test-support modules (``repo_support``, ``k8s_topology.testing``) are imported inside the fixtures that
use them: CI's kind step runs ``test_kind_cluster.py`` from installed wheels with only ``infra/kind`` on the
path, and loads this file too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from e2e_tests.witness import Witness

if TYPE_CHECKING:
    from k8s_topology.testing import FakeApiServer
    from repo_support.netns import NetnsCluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns` (tier 1; skipped with the reason otherwise)"
    )
    config.addinivalue_line("markers", "kind: needs KIND_E2E=1 and a kind cluster answering (tier 2)")
    config.addinivalue_line("markers", "docker: needs a Docker engine answering (tier 1b)")


@pytest.fixture(scope="session")
def netns_available() -> None:
    """Skip (with the reason) when namespaces cannot be built: not root, no iproute2, no netns support."""
    from repo_support.netns import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"tier 1 needs network namespaces: {reason}")


@pytest.fixture
def netns_factory(netns_available: None) -> Iterator[Callable[[Sequence[str]], NetnsCluster]]:
    """Build NetnsClusters on demand; every one is destroyed when the test ends, pass or fail."""
    from repo_support.netns import NetnsCluster

    clusters: list[NetnsCluster] = []

    def make(names: Sequence[str]) -> NetnsCluster:
        cluster = NetnsCluster(node_names=list(names))
        clusters.append(cluster)
        return cluster.create()

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.destroy()


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    """The kube-apiserver stand-in (kmock over real HTTP) of the Kubernetes-path tiers."""
    from k8s_topology.testing import FakeApiServer

    with FakeApiServer() as server:
        yield server


@pytest.fixture
def witness_factory() -> Iterator[Callable[[str], Witness]]:
    """Start witnesses on given driver addresses; all closed at the end of the test."""
    started: list[Witness] = []

    def make(host: str) -> Witness:
        w = Witness(host).__enter__()
        started.append(w)
        return w

    try:
        yield make
    finally:
        for w in started:
            w.close()


@pytest.fixture
def run_dir(tmp_path: Path) -> str:
    """A Parsl run_dir per test (worker logs land here; kept by pytest for failed runs)."""
    path = tmp_path / "runinfo"
    path.mkdir()
    os.chmod(path, 0o755)
    return str(path)
