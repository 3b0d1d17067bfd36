"""Fixtures of the end-to-end tiers: namespace "hosts", a witness, and a Parsl session that always ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from e2e_tests.netns import NetnsCluster, unavailable_reason
from e2e_tests.pools import child_env
from e2e_tests.witness import Witness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns` (tier 1; skipped with the reason otherwise)"
    )
    config.addinivalue_line("markers", "kind: needs KIND_E2E=1 and a kind cluster answering (tier 2)")
    config.addinivalue_line("markers", "docker: needs a Docker engine answering (tier 1b)")


@pytest.fixture(scope="session", autouse=True)
def children_see_first_party_code() -> Iterator[None]:
    """Every child (interchange, worker pools, SAGA's worker) imports first-party modules with ``-m``.

    Under Pants those live only on this process's ``sys.path``; export it, absolute, as PYTHONPATH.
    """
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


@pytest.fixture(scope="session")
def netns_available() -> None:
    """Skip (with the reason) when namespaces cannot be built: not root, no iproute2, no netns support."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"tier 1 needs network namespaces: {reason}")


@pytest.fixture
def netns_factory(netns_available: None) -> Iterator[Callable[[Sequence[str]], NetnsCluster]]:
    """Build NetnsClusters on demand; every one is destroyed when the test ends, pass or fail."""
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
