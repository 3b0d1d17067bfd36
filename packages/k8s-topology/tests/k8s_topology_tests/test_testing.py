"""k8s_topology.testing: the public kube-apiserver stand-in, and kmock as its optional dependency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubernetes import client

import k8s_topology
from k8s_topology.testing import FakeApiServer


def test_serves_the_official_client_over_http_and_records_requests(tmp_path: Path) -> None:
    with FakeApiServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        server.add_nodes({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        names = [n.metadata.name for n in server.core().list_node().items]
        assert isinstance(server.api_client(), client.ApiClient)
        assert names == ["n1"]
        assert any(str(r.method.value) == "POST" for r in server.requests())
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        assert k8s_topology.make_api_client(kubeconfig=kubeconfig).configuration.host == server.url
    server.close()  # idempotent


def test_without_kmock_the_module_imports_and_the_server_names_the_install_command() -> None:
    code = """
import sys
class NoKmock:
    def find_spec(self, name, path=None, target=None):
        if name == "kmock" or name.startswith("kmock."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoKmock())
from k8s_topology.testing import FakeApiServer
try:
    FakeApiServer()
except ImportError as exc:
    print("IMPORT-ERROR", exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (line,) = (ln for ln in out.stdout.splitlines() if ln.startswith("IMPORT-ERROR"))
    assert "pip install kmock" in line and "FakeApiServer needs kmock" in line
