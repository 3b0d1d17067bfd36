"""A kube-apiserver stand-in for tests: kmock served over real HTTP from a background thread.

``kmock`` (a Kubernetes API emulator) stands in for the kube-apiserver, which this machine cannot run
(no kube-apiserver, k3s or kind binary is obtainable here). Code under test talks to it through the
official ``kubernetes`` client, over TCP, exactly as it would to a cluster.

kmock is asyncio-based and the kubernetes client is synchronous: kmock runs its own event loop in a
background thread, and test code (the sync client) runs off that loop. Shared by the tests of
k8s-topology, saga-dfk and the end-to-end tier, so there is one way to fake the API server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import kmock
from kubernetes import client

__all__ = ["FakeApiServer"]


class FakeApiServer:
    """kmock's KubernetesEmulator served on 127.0.0.1 from a private event-loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.km: Any = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, name="kmock-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError(f"kmock did not start: {self._error!r}")
        if self._error is not None:
            raise RuntimeError(f"kmock did not start: {self._error!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as km, kmock.Server(km) as srv:
            self.km = km
            self.url = str(srv.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on kmock's loop (kmock's DSL must be used there) and return its result."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(20)

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    # -- conveniences ----------------------------------------------------------------------------
    def api_client(self) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    def core(self) -> Any:
        """A CoreV1Api (typed Any: tests pass plain JSON dicts where the stubs want models)."""
        return client.CoreV1Api(self.api_client())

    def add_nodes(self, *nodes: dict[str, Any]) -> None:
        core = self.core()
        for node in nodes:
            core.create_node(node)

    def requests(self) -> list[Any]:
        return list(self.on_loop(lambda: list(self.km)))

    def kubeconfig(self, path: Any) -> str:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: tester\n  user:\n    token: not-a-real-token\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n"
            "current-context: fake\n"
        )
        return str(path)
