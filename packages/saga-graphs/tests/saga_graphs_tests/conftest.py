"""Shared problems for the saga_graphs tests (real SAGA underneath; nothing is mocked)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

import saga_graphs as sg
from saga_graphs._worker import shared_worker


def diamond(size: float = 0.0) -> sg.TaskGraph:
    """The diamond: t1 0.5 s -> t2 2.0 s and t3 1.0 s -> t4 0.5 s."""
    tg = sg.TaskGraph()
    for name, cost in [("t1", 0.5), ("t2", 2.0), ("t3", 1.0), ("t4", 0.5)]:
        tg.add_task(name, cost)
    for parent, child in [("t1", "t2"), ("t1", "t3"), ("t2", "t4"), ("t3", "t4")]:
        tg.add_dependency(parent, child, size)
    return tg


def three_nodes(bandwidth: float = 1.25e8) -> sg.Network:
    net = sg.Network(default_bandwidth=bandwidth)
    for name in ("node-a", "node-b", "node-c"):
        net.add_node(name)
    return net


def random_problem(
    seed: int, n_tasks: int = 20, n_nodes: int = 3, max_slots: int = 2
) -> tuple[sg.TaskGraph, sg.Network]:
    """A random layered-ish DAG with random costs/sizes and a heterogeneous network (seeded)."""
    r = random.Random(seed)
    tg = sg.TaskGraph()
    for i in range(n_tasks):
        tg.add_task(f"t{i}", r.uniform(0.1, 5.0))
    density = r.choice([0.05, 0.15, 0.3])
    for i in range(n_tasks):
        for j in range(i + 1, n_tasks):
            if r.random() < density:
                tg.add_dependency(f"t{i}", f"t{j}", r.choice([0.0, r.uniform(1e6, 5e8)]))
    net = sg.Network()
    names = [f"n{k}" for k in range(n_nodes)]
    for name in names:
        net.add_node(name, slots=r.randint(1, max_slots), speed=r.uniform(0.5, 2.0))
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            net.set_bandwidth(a, b, r.uniform(1e7, 1e9))
    return tg, net


@pytest.fixture(scope="session", autouse=True)
def _stop_worker() -> Iterator[None]:
    """The scheduler worker process is shared by all tests; stop it at the end (also on failure)."""
    yield
    shared_worker().close()
