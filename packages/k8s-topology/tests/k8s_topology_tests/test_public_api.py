"""The public surface: exactly ``__all__``, and the import boundaries of the team contract."""

from __future__ import annotations

import json
import subprocess
import sys

import k8s_topology


def test_public_names_are_exactly_all() -> None:
    public = {n for n in dir(k8s_topology) if not n.startswith("_")}
    public.add("PinnedKubernetesProvider")  # loaded lazily via module __getattr__ (it imports parsl)
    assert public == set(k8s_topology.__all__)
    for name in k8s_topology.__all__:
        assert getattr(k8s_topology, name) is not None


def test_import_boundaries() -> None:
    """k8s_topology never imports saga / saga_graphs; the core does not import parsl or
    parsl_affinity_htex, and even the provider only names the affinity worker module as a string."""
    code = (
        "import sys, json, k8s_topology;"
        "core = sorted(m for m in sys.modules if m.split('.')[0] in ('saga', 'saga_graphs', 'parsl', 'parsl_affinity_htex'));"
        "k8s_topology.PinnedKubernetesProvider;"
        "full = sorted({m.split('.')[0] for m in sys.modules} & {'saga', 'saga_graphs', 'parsl', 'parsl_affinity_htex'});"
        "print(json.dumps([core, full]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    core, full = json.loads(out.stdout.strip().splitlines()[-1])
    assert core == []
    assert full == ["parsl"]


def test_errors_share_a_base_and_pickle() -> None:
    import pickle

    for name in k8s_topology.__all__:
        obj = getattr(k8s_topology, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, k8s_topology.K8sTopologyError)
            err = obj("message naming the bad value")
            assert str(pickle.loads(pickle.dumps(err))) == "message naming the bad value"
