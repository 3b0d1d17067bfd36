"""Watching nodes: ``joined`` / ``lost`` / ``changed``, the three things a re-planner acts on.

A node *counts* when the :class:`NodeFilter` accepts it (Ready, schedulable, untainted, matching names,
labels and role). The watch reports only changes of that:

* ``joined``: a node starts to count (created, or Ready / uncordoned / untainted again);
* ``lost``: a node stops counting (deleted, NotReady, cordoned, tainted, or no longer matching the
  filter); ``reason`` says which, e.g. ``"cordoned (spec.unschedulable=true)"``;
* ``changed``: a node that counts changed what the network model reads (allocatable CPU/memory,
  zone/region, labels, ``saga.parsl.org/*`` annotations).

A re-planner must not silently go blind, so the stream does not die on its own: the server's watch
timeout resumes from the last resourceVersion; ``410 Gone`` (that resourceVersion expired) re-lists and
emits the *differences* to what had been seen; connection errors and 5xx reconnect with capped
exponential backoff and re-list too (events may have been lost). Only 401/403 (which retrying cannot fix)
end the stream with an error. ``stop()`` ends it promptly from any thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Never

import urllib3  # pants: no-infer-dep (a dependency of kubernetes, not a direct requirement)
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from k8s_topology._client import host_of, list_nodes_raw, make_api_client, translate_api_exception
from k8s_topology._discovery import NodeFilter, reject_removed_keywords
from k8s_topology._log import kv
from k8s_topology._nodes import KubeNode, node_from_dict
from k8s_topology._topology import Topology
from k8s_topology.errors import K8sTopologyError

log = logging.getLogger(__name__)

EventKind = Literal["joined", "lost", "changed"]


@dataclass(frozen=True)
class NodeEvent:
    """One change of whether (or how) a node counts.

    ``node`` is the node's state after the change (for a deleted node: its final state); ``reason`` is
    human-readable: why a node was lost, ``"added"`` / ``"usable again"`` for ``joined``, the changed
    fields for ``changed``.
    """

    kind: EventKind
    node: KubeNode
    reason: str = ""


def _modelled(node: KubeNode) -> dict[str, Any]:
    """What the network model reads from a node: a difference here is a ``changed`` event."""
    return {
        "cpu": node.cpu,
        "memory": node.memory,
        "zone": node.zone,
        "region": node.region,
        "labels": dict(node.labels),
        "annotations": {k: v for k, v in node.annotations.items() if k.startswith("saga.parsl.org/")},
    }


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): re-list."""


class NodeWatch(Iterator[NodeEvent]):
    """An iterator of :class:`NodeEvent` for the nodes ``node_filter`` accepts; ``stop()`` ends it.

    ``known`` (e.g. the Topology of an earlier :func:`discover`) is the starting point: the first listing
    is diffed against it, so nothing that changed between discovery and watch start is missed. Without
    it, the nodes that count at start are reported as ``joined`` unless ``initial_events=False``.
    ``topology`` is the current state (usable nodes, and the others with their reasons), safe to read
    from any thread.
    """

    def __init__(
        self,
        api_client: client.ApiClient | None = None,
        *,
        node_filter: NodeFilter | None = None,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        known: Iterable[KubeNode] | None = None,
        initial_events: bool = True,
        watch_timeout: int = 300,
        connect_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        **removed: Never,
    ) -> None:
        reject_removed_keywords("NodeWatch()", removed)
        self.node_filter = node_filter if node_filter is not None else NodeFilter()
        self._api = make_api_client(api_client, kubeconfig=kubeconfig, context=context)
        self._host = host_of(self._api)
        self._lock = threading.Lock()
        self._usable: dict[str, KubeNode] = {n.name: n for n in known or ()}
        self._excluded: dict[str, str] = {}
        self._silent_start = known is None and not initial_events
        self._watch_timeout = watch_timeout
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stopped = threading.Event()
        self._resp: Any = None
        self._rv: str | None = None
        #: Times the node list was re-read after the first listing (410 Gone, reconnects).
        self.relists = 0
        #: Connection failures survived.
        self.reconnects = 0
        self._gen = self._events()

    def __iter__(self) -> NodeWatch:
        return self

    def __next__(self) -> NodeEvent:
        return next(self._gen)

    @property
    def topology(self) -> Topology:
        """The nodes that count now, and the watched nodes that do not (with the reasons)."""
        with self._lock:
            return Topology(list(self._usable.values()), dict(self._excluded))

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """End the stream: the iterator stops at its next step (a blocked read is interrupted)."""
        self._stopped.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            try:
                shutdown = getattr(resp, "shutdown", None)  # urllib3 >= 2.3: unblocks a read elsewhere
                if shutdown is not None:
                    shutdown()
                resp.close()
            except Exception:  # best effort on a connection we are abandoning
                log.debug("k8s.watch.close_failed", exc_info=True)

    # -- state ---------------------------------------------------------------------------------------
    def _observe(self, node: KubeNode, deleted: bool = False) -> NodeEvent | None:
        """Apply one node's new state; the event it causes, if any."""
        reasons = self.node_filter.reasons(node)
        with self._lock:
            old = self._usable.pop(node.name, None)
            was_excluded = self._excluded.pop(node.name, None)
            if deleted:
                # A node leaving a server-side label selector also arrives as DELETED.
                why = "; ".join(r for r in reasons if "label selector" in r) or "deleted"
                return NodeEvent("lost", node, why) if old is not None else None
            if reasons:
                self._excluded[node.name] = "; ".join(reasons)
                return NodeEvent("lost", node, self._excluded[node.name]) if old is not None else None
            self._usable[node.name] = node
        if old is None:
            return NodeEvent("joined", node, "usable again" if was_excluded else "added")
        before, after = _modelled(old), _modelled(node)
        changed = [k for k in after if before[k] != after[k]]
        return NodeEvent("changed", node, ", ".join(changed) + " changed") if changed else None

    def _parse(self, obj: Mapping[str, Any]) -> KubeNode | None:
        try:
            return node_from_dict(obj)
        except K8sTopologyError as exc:
            # A node with a malformed quantity must not kill a long-running watch; discovery reports it.
            log.error("k8s.watch.node_invalid %s", kv(error=str(exc)))
            return None

    def _relist(self) -> tuple[list[NodeEvent], str | None]:
        items, rv = list_nodes_raw(
            self._api,
            label_selector=self.node_filter.label_selector,
            request_timeout=self._connect_timeout + 20,
        )
        current = [n for n in map(self._parse, items) if n is not None]
        names = {n.name for n in current}
        with self._lock:
            gone = [self._usable[n] for n in sorted(set(self._usable) - names)]
            for name in set(self._excluded) - names:
                del self._excluded[name]
        events = [ev for node in gone if (ev := self._observe(node, deleted=True))]
        events += [ev for node in sorted(current, key=lambda n: n.name) if (ev := self._observe(node))]
        log.info("k8s.watch.listed %s", kv(host=self._host, listed=len(current), events=len(events)))
        return events, rv

    # -- the stream ----------------------------------------------------------------------------------
    def _stream(self) -> Iterator[NodeEvent]:
        """One watch request from ``self._rv`` on, which it advances; ends when the server closes it."""
        kwargs: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._watch_timeout,
            "_preload_content": False,
            "_request_timeout": (self._connect_timeout, self._watch_timeout + 30),
        }
        if self._rv:
            kwargs["resource_version"] = self._rv
        if self.node_filter.label_selector:
            kwargs["label_selector"] = self.node_filter.label_selector
        resp: Any = client.CoreV1Api(self._api).list_node(**kwargs)  # raw urllib3 response
        with self._lock:
            self._resp = resp
        try:
            if self._stopped.is_set():  # stop() came while the request was being opened
                return
            for line in iter_resp_lines(resp):
                if self._stopped.is_set():
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        raise _Expired(str(obj.get("message") or ""))
                    raise ApiException(status=code, reason=str(obj.get("message") or obj.get("reason")))
                self._rv = (obj.get("metadata") or {}).get("resourceVersion") or self._rv
                node = self._parse(obj) if kind != "BOOKMARK" else None
                if node is not None and (ev := self._observe(node, deleted=kind == "DELETED")):
                    yield ev
        finally:
            with self._lock:
                self._resp = None
            resp.release_conn()

    def _events(self) -> Iterator[NodeEvent]:
        need_list, first = True, True
        backoff = self._backoff_initial
        while not self._stopped.is_set():
            try:
                if need_list:
                    events, self._rv = self._relist()
                    self.relists += not first
                    if not (first and self._silent_start):
                        yield from events
                    first = need_list = False
                for ev in self._stream():
                    backoff = self._backoff_initial
                    log.info("%s %s", "k8s.node." + ev.kind, kv(node=ev.node.name, reason=ev.reason))
                    yield ev
            except _Expired as exc:
                log.info(
                    "k8s.watch.expired %s", kv(host=self._host, resource_version=self._rv, message=str(exc))
                )
                need_list = True
            except (ApiException, K8sTopologyError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                # ValueError: a truncated JSON line when the connection dies mid-event. K8sTopologyError:
                # from the re-list, which translates its errors itself.
                status = int(getattr(exc, "status", 0) or 0)
                if status == 410:  # some servers and proxies answer an expired watch with HTTP 410
                    need_list = True
                    continue
                if status in (401, 403):
                    if isinstance(exc, ApiException):
                        raise translate_api_exception(exc, "watch", "nodes", self._host) from exc
                    raise
                if self._stopped.is_set():
                    return
                self.reconnects += 1
                log.warning(
                    "k8s.watch.reconnecting %s",
                    kv(host=self._host, delay=backoff, error=f"{type(exc).__name__}: {exc}"),
                )
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, self._backoff_max)
                need_list = True
            except Exception:
                if self._stopped.is_set():  # reading a response that stop() closed under us
                    return
                raise


class NodeWatcher:
    """A :class:`NodeWatch` on a daemon thread, feeding every :class:`NodeEvent` to ``callback``.

    Takes the same arguments as NodeWatch. A callback that raises is logged and does not stop the watch.
    A fatal error (401/403) ends the thread; it is kept in ``error`` and passed to ``on_error`` if given.
    Use as a context manager or call ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        callback: Callable[[NodeEvent], object],
        api_client: client.ApiClient | None = None,
        *,
        on_error: Callable[[BaseException], object] | None = None,
        **watch_options: Any,
    ) -> None:
        self._callback = callback
        self._on_error = on_error
        self.watch = NodeWatch(api_client, **watch_options)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-node-watcher", daemon=True)

    def _run(self) -> None:
        try:
            for event in self.watch:
                try:
                    self._callback(event)
                except Exception:
                    log.exception("k8s.watch.callback_failed %s", kv(kind=event.kind, node=event.node.name))
        except BaseException as exc:
            self.error = exc
            log.error("k8s.watch.failed %s", kv(error=str(exc)))
            if self._on_error is not None:
                self._on_error(exc)

    @property
    def topology(self) -> Topology:
        return self.watch.topology

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> NodeWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.watch.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> NodeWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
