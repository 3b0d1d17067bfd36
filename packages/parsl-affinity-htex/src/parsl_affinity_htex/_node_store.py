"""Node-local result stores: a task's big result stays on the node that made it.

Plain HTEx sends every return value up to the driver and every argument back down, also between two tasks
on one node. With a :class:`DataPlane`, each node runs one ``redis-server`` (its *node store*) and a result
whose serialized size reaches the threshold is put there by the worker that made it; the driver gets a
ProxyStore ``Proxy`` (a few hundred bytes) instead. A child task receives that proxy as its argument and its
worker fetches the bytes straight from the producer's node store: from its own node's store when both ran on
one node, over the node-to-node network otherwise, never through the driver. The driver fetches only when
the caller uses the value.

Why Redis (``proxystore.connectors.redis.RedisConnector``), measured on this project's machines: it is the
fastest of ProxyStore's connectors that run here (1 KiB get 0.12 ms, 16 MiB get 61 ms on loopback; the
ZeroMQ peer connector: 0.7 ms and 68 ms, with no timeout on a dead peer), the store is its own process, so
stored results outlive the worker that made them, and across network namespaces a fetch saturates the
shaped link (16 MiB over 20 Mbit/s: 7.1 s, 6.7 s expected). Keys carry no host, so every node store has its
own ProxyStore store *name* (node and address) and its connector config (the node's address) travels
inside each proxy: whoever resolves it connects to the node that holds it.

Lifetimes: the executor keeps a weak reference to each result proxy it handed out. The proxy is referenced
by the caller's future and by every task that takes it as an argument until that task is done (Parsl frees
both), so once it is garbage collected nobody at the driver can read or pass it on and the stored result is
evicted. Before the executor scales blocks in (Parsl's cleanup scales every block in), the proxies still
alive of those blocks' stores are resolved (the caller may read them after the cluster is gone) and evicted,
each once, so the stores end empty. A node's store dies with the node (it runs in the pool's process
group): a child that needs a lost result fails with :class:`~parsl_affinity_htex.errors.StoredResultLost`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import redis
from proxystore.connectors.redis import RedisConnector
from proxystore.proxy import Proxy, get_factory, resolve
from proxystore.store import Store, get_or_create_store, get_store
from proxystore.store.config import StoreConfig
from proxystore.store.factory import StoreFactory
from redis.backoff import NoBackoff
from redis.retry import Retry

from parsl_affinity_htex._errors import InvalidDataPlaneError, StoredResultLost
from parsl_affinity_htex._log import kv

__all__ = [
    "STORE_ENV_VAR",
    "DataPlane",
    "NodeResults",
    "NodeStoreConnector",
    "NodeStoreServer",
    "node_store",
    "plain_value",
    "parse_store_address",
    "store_name",
    "store_node",
]

log = logging.getLogger(__name__)

#: ``host:port`` of the node's store, exported by ``python -m parsl_affinity_htex.worker_pool`` to its workers.
STORE_ENV_VAR: Final = "PARSL_AFFINITY_HTEX_STORE"
#: Where a pool finds a node store started beside it when no ``--node-store`` is given (k8s-topology's
#: ``NodeStoreSidecar`` sets it to the pod IP and the store's port).
NODE_STORE_VARIABLE: Final = "PARSL_NODE_STORE"
#: Every node store's ProxyStore name starts with this (the rest: node name and address).
STORE_NAME_PREFIX: Final = "parsl-affinity-htex-node:"
#: Default threshold, by measurement (benchmarks/bench_threshold.py, README): on loopback a producer ->
#: consumer pair through a node store costs 3-5 ms more than through the driver up to 256 KiB and wins from
#: 1 MiB on (0.75x, 4 MiB 0.50x); across a real network the driver path is the slow one (29-49 MB/s measured
#: between network namespaces against 200-265 MB/s node to node), where the store wins from about 100 KB.
DEFAULT_THRESHOLD_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class DataPlane:
    """Keep results of ``threshold_bytes`` or more (serialized) in their node's store; see the module doc.

    ``fetch_timeout``: seconds a fetch may wait for a node store to connect or to send the next chunk before
    the task fails with StoredResultLost (a node that is gone must not hang its children).
    """

    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    fetch_timeout: float = 30.0

    def __post_init__(self) -> None:
        t = self.threshold_bytes
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise InvalidDataPlaneError(
                f"DataPlane.threshold_bytes must be an int >= 1 (serialized result size), got {t!r}"
            )
        f = self.fetch_timeout
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f < float("inf"):
            raise InvalidDataPlaneError(f"DataPlane.fetch_timeout must be a number of seconds > 0, got {f!r}")


def parse_store_address(text: str) -> tuple[str, int]:
    """``"host:port"`` as ``(host, port)``, or InvalidDataPlaneError naming the bad value."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidDataPlaneError(
            f"a node store address is 'host:port' (e.g. '10.0.0.5:6379'), got {text!r}"
        )
    return host, int(port)


def store_name(node: str, host: str, port: int) -> str:
    """The ProxyStore store name of ``node``'s store at ``host:port`` (a restarted store gets a new name)."""
    return f"{STORE_NAME_PREFIX}{node}@{host}:{port}"


def store_node(name: str) -> str:
    """The node a node store's ProxyStore name (``store_name``) belongs to."""
    return name.removeprefix(STORE_NAME_PREFIX).rsplit("@", 1)[0]


class NodeStoreConnector(RedisConnector):  # type: ignore[misc]
    """ProxyStore's RedisConnector with socket timeouts and no retries.

    Upstream's connector takes no client options: a fetch from a node that is unreachable hangs forever and
    a refused one retries for about 4 s. ``timeout`` bounds connecting and each read.
    """

    def __init__(self, hostname: str, port: int, clear: bool = False, timeout: float = 30.0) -> None:
        self.hostname = hostname
        self.port = port
        self.clear = clear
        self.timeout = timeout
        self._redis_client = redis.StrictRedis(
            host=hostname,
            port=port,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),
        )

    def config(self) -> dict[str, Any]:
        return {**super().config(), "timeout": self.timeout}


def _factory(proxy: Proxy[Any]) -> StoreFactory[Any, Any]:
    """The proxy's factory (every node-store proxy has a StoreFactory; checked by is_node_result)."""
    return cast(StoreFactory[Any, Any], get_factory(proxy))


def _key_text(key: Any) -> str:
    """A RedisKey as the text RunRecords carry."""
    return str(key.redis_key)


def _as_is(data: bytes) -> bytes:
    """The stored bytes are already Parsl's serialization of the result."""
    return data


_own_store_lock = threading.Lock()


def node_store(timeout: float = 30.0) -> Store[Any] | None:
    """This worker's node store (registered with ProxyStore), or None outside a pool with a store."""
    address = os.environ.get(STORE_ENV_VAR)
    if not address:
        return None
    host, port = parse_store_address(address)
    node = os.environ.get("PARSL_AFFINITY_HTEX_NODE") or socket.gethostname()
    name = store_name(node, host, port)
    with _own_store_lock:
        store = get_store(name)
        if store is None:
            store = Store(
                name,
                NodeStoreConnector(host, port, timeout=timeout),
                cache_size=0,  # a worker keeps no copies: the node's memory is the store's
                populate_target=False,
                register=True,
            )
    return store


def put_result(store: Store[Any], payload: bytes, value_type: type) -> tuple[Proxy[Any], str]:
    """Put ``payload`` (a Parsl-serialized result) in ``store``; the proxy (resolving to the value) and key.

    The proxy knows its value's class without resolving: Parsl's DataFlowKernel asks every result
    ``isinstance(result, RemoteExceptionWrapper)``, which would otherwise fetch the bytes to the driver.
    """
    from parsl.serialize import deserialize

    proxy = store.proxy(
        payload,
        serializer=_as_is,
        deserializer=cast(Callable[[Any], Any], deserialize),
        populate_target=False,
    )
    object.__setattr__(proxy, "__proxy_default_class__", value_type)
    return proxy, _key_text(_factory(proxy).key)


def is_node_result(value: Any) -> bool:
    """Whether ``value`` is a proxy of a node store (checked without resolving it)."""
    if type(value) is not Proxy:
        return False
    factory = get_factory(value)
    return isinstance(factory, StoreFactory) and factory.store_config.name.startswith(STORE_NAME_PREFIX)


def plain_value(value: Any) -> Any:
    """A task result as its plain value: a result kept in a node store is fetched (from the node that holds
    it, once: the proxy keeps it) and returned as the object itself; anything else is returned as is.

    Proxies pass for their values in most code, but not where C code needs the real object (``hashlib``,
    ``memoryview``, NumPy's buffer protocol), and ``type()`` says ``Proxy``.
    """
    if is_node_result(value):
        from proxystore.proxy import extract

        return extract(value)
    return value


def fetch_result(proxy: Proxy[Any], own_store: str | None) -> tuple[Any, dict[str, Any]]:
    """The value behind a node-store proxy, read from the store that holds it, and how it came.

    The second item: ``store``, ``key``, ``nbytes``, ``seconds``, ``local`` (this node's own store).
    Raises StoredResultLost when the store is gone or no longer has the key.
    """
    from parsl.serialize import deserialize

    factory = _factory(proxy)
    config: StoreConfig = factory.store_config
    key = factory.key
    start = time.perf_counter()
    try:
        store = get_or_create_store(config, register=True)
        blob = store.connector.get(key)
    except (redis.RedisError, OSError) as e:
        raise StoredResultLost(config.name, _key_text(key), f"{type(e).__name__}: {e}") from e
    if blob is None:
        raise StoredResultLost(config.name, _key_text(key), "the store no longer has it")
    seconds = time.perf_counter() - start
    value = deserialize(bytes(blob))
    return value, {
        "store": config.name,
        "key": _key_text(key),
        "nbytes": len(blob),
        "seconds": seconds,
        "local": config.name == own_store,
    }


def wait_for_store(address: str, timeout: float) -> None:
    """Wait until the node store at ``address`` answers (a sidecar may start after the pool), or raise
    InvalidDataPlaneError naming it."""
    host, port = parse_store_address(address)
    client = redis.StrictRedis(host=host, port=port, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError as e:
                if time.monotonic() > deadline:
                    raise InvalidDataPlaneError(
                        f"node store {address} did not answer within {timeout:g} s: {e}"
                    ) from e
                time.sleep(0.2)
    finally:
        client.close()


class NodeStoreServer:
    """One ``redis-server`` for one node, started by its pool and stopped with it.

    It runs in the pool's process group, so a node that is killed takes its store along (as a real node
    would). No persistence, no protected mode (other nodes must connect; the executor's ``allowed_nodes`` and
    the network, not a password, decide who can reach it; ProxyStore's RedisConnector takes no password).
    """

    def __init__(self, host: str, port: int = 0, maxmemory: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InvalidDataPlaneError(
                "a node store needs redis-server on PATH (Debian/Ubuntu: apt-get install redis-server)"
            )
        if port == 0:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        self.host, self.port = host, port
        cmd = [binary, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no"]
        cmd += ["--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"]
        if maxmemory:
            cmd += ["--maxmemory", maxmemory, "--maxmemory-policy", "noeviction"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.StrictRedis(host=host, port=port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise InvalidDataPlaneError(
                        f"redis-server on {host}:{port} did not start (exit code {self.process.returncode})"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()
        log.info("node_store.started %s", kv(address=self.address, pid=self.process.pid))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class NodeResults:
    """The driver's side of the data plane: the result proxies handed out, evicted when nobody holds them."""

    def __init__(self, fetch_timeout: float) -> None:
        self.fetch_timeout = fetch_timeout
        self._live: dict[int, weakref.ref[Proxy[Any]]] = {}
        self._finalizers: dict[int, weakref.finalize[Any, Any]] = {}
        self._lock = threading.Lock()
        self._evictions: queue.SimpleQueue[tuple[StoreConfig, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._evict_loop, name="node-results-evictor", daemon=True)
        self._thread.start()
        self.evicted = 0

    def track(self, proxy: Proxy[Any]) -> None:
        """Evict ``proxy``'s stored result once the proxy is garbage collected."""
        factory = _factory(proxy)
        token = id(proxy)
        # finalize runs inside garbage collection: it only queues, the evictor thread talks to the store
        finalizer = weakref.finalize(proxy, self._collected, token, factory.store_config, factory.key)
        with self._lock:
            self._live[token] = weakref.ref(proxy)
            self._finalizers[token] = finalizer

    def _collected(self, token: int, config: StoreConfig, key: Any) -> None:
        with self._lock:
            self._live.pop(token, None)
            self._finalizers.pop(token, None)
        self._evictions.put((config, key))

    def _forget(self, proxy: Proxy[Any]) -> None:
        """``proxy``'s result is evicted now: its collection later must not evict (or count) it again."""
        with self._lock:
            self._live.pop(id(proxy), None)
            finalizer = self._finalizers.pop(id(proxy), None)
        if finalizer is not None:
            finalizer.detach()

    def live(self) -> int:
        """How many stored results the driver still holds."""
        with self._lock:
            return len(self._live)

    def _evict(self, config: StoreConfig, key: Any) -> None:
        try:
            get_or_create_store(config, register=True).evict(key)
            self.evicted += 1
        except Exception as e:  # a store that is gone has nothing left to evict
            log.debug("node_store.evict_failed %s", kv(store=config.name, error=repr(e)))

    def _evict_loop(self) -> None:
        while (item := self._evictions.get()) is not None:
            self._evict(*item)

    def fetch_held(self, addresses: set[str]) -> None:
        """Resolve (and evict) the held proxies of the node stores at ``addresses`` (``host:port``), which
        are about to stop."""
        if not addresses:
            return
        suffixes = tuple(f"@{a}" for a in addresses)
        with self._lock:
            held = [p for ref in self._live.values() if (p := ref()) is not None]
        fetched = 0
        for proxy in held:
            if _factory(proxy).store_config.name.endswith(suffixes):
                with contextlib.suppress(Exception):  # a result already lost stays unresolved
                    resolve(proxy)
                    fetched += 1
                    factory = _factory(proxy)
                    self._forget(proxy)
                    self._evict(factory.store_config, factory.key)  # now, before the store stops
        log.info("node_store.fetched_before_stop %s", kv(stores=sorted(addresses), results=fetched))

    def close(self) -> None:
        """Resolve the proxies still held (their values stay usable after the stores stop) and evict all."""
        with self._lock:
            held = [p for ref in self._live.values() if (p := ref()) is not None]
        for proxy in held:
            with contextlib.suppress(Exception):  # a lost result stays unresolved and raises when used
                resolve(proxy)
            factory = _factory(proxy)
            self._forget(proxy)
            self._evictions.put((factory.store_config, factory.key))
        del held
        self._evictions.put(None)
        self._thread.join(max(10.0, self.fetch_timeout))
