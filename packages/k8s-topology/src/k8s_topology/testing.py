"""Test support: a kube-apiserver stand-in for code that talks to Kubernetes through the official client.

Like ``unittest.mock``, this module is public so that the tests of any package (and your own) fake the API
server the same way::

    from k8s_topology.testing import FakeApiServer

    with FakeApiServer() as server:
        server.add_nodes({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, ...})
        topology = k8s_topology.discover(server.api_client())

:class:`FakeApiServer` serves `kmock <https://pypi.org/project/kmock/>`_'s Kubernetes emulator over real
HTTP on 127.0.0.1: the code under test talks to it through the official ``kubernetes`` client, over TCP,
exactly as it would to a cluster. kmock is asyncio-based and the client is synchronous, so kmock runs its
own event loop in a background thread and test code runs off that loop. kmock ignores label selectors and
watch resourceVersions; code under test that relies on them must re-check on its side.

kmock is an optional dependency, needed only here (``pip install kmock``); importing this module does not
need it, constructing a :class:`FakeApiServer` does.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from kubernetes import client

__all__ = ["FakeApiServer"]

_T = TypeVar("_T")


def _kmock() -> ModuleType:
    try:
        import kmock
    except ImportError as exc:
        raise ImportError(
            f"k8s_topology.testing.FakeApiServer needs kmock, an optional dependency of k8s-topology ({exc}); "
            "install it with: pip install kmock"
        ) from exc
    return kmock


class FakeApiServer:
    """kmock's KubernetesEmulator served on 127.0.0.1 from a private event-loop thread.

    Started by the constructor (RuntimeError if kmock does not come up within 20 s); stop it with
    :meth:`close` or use it as a context manager. ``url`` is its base URL, ``km`` the emulator (use it only
    through :meth:`on_loop`).
    """

    def __init__(self) -> None:
        kmock = _kmock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.km: Any = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, args=(kmock,), name="kmock-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError(f"kmock did not start: {self._error!r}")
        if self._error is not None:
            raise RuntimeError(f"kmock did not start: {self._error!r}")

    def _run(self, kmock: ModuleType) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(kmock))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self, kmock: ModuleType) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as km, kmock.Server(km) as srv:
            self.km = km
            self.url = str(srv.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeApiServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def on_loop(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on kmock's loop (kmock's DSL must be used there) and return its result."""

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(20)

    def close(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    # -- conveniences ----------------------------------------------------------------------------
    def api_client(self) -> client.ApiClient:
        """A new ``kubernetes`` ApiClient pointed at this server (no credentials)."""
        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    def core(self) -> Any:
        """A CoreV1Api (typed Any: tests pass plain JSON dicts where the stubs want models)."""
        return client.CoreV1Api(self.api_client())

    def add_nodes(self, *nodes: dict[str, Any]) -> None:
        """Create each Node (a v1 Node as JSON) through the API."""
        core = self.core()
        for node in nodes:
            core.create_node(node)

    def requests(self) -> list[Any]:
        """Every request the server received so far (kmock's request objects: method, url, data...)."""
        return list(self.on_loop(lambda: list(self.km)))

    def kubeconfig(self, path: str | os.PathLike[str]) -> str:
        """Write a kubeconfig for this server (a dummy bearer token) to ``path``; return the path."""
        Path(path).write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: tester\n  user:\n    token: not-a-real-token\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n"
            "current-context: fake\n"
        )
        return str(path)
