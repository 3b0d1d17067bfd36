"""Watching nodes: a stream of added / removed / not_ready / ready / unschedulable / schedulable events.

saga-dfk re-plans on these events, so the stream must not silently die: on ``410 Gone`` (the watch's
resourceVersion expired) the watch re-lists and emits the *differences* to what it had seen; on
connection errors it reconnects with capped exponential backoff and re-lists too, because events may
have been lost while disconnected. Only 401/403 (which retrying cannot fix) end the stream with an error.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
import urllib3  # pants: no-infer-dep (a dependency of kubernetes, not a direct requirement)
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from k8s_topology._client import host_of, list_nodes_raw, make_api_client, translate_api_exception
from k8s_topology._discovery import NodeFilter
from k8s_topology._errors import K8sTopologyError, KubernetesUnauthorized
from k8s_topology._nodes import KubeNode, node_from_dict

log = structlog.get_logger(__name__)

EventKind = Literal["added", "removed", "not_ready", "ready", "unschedulable", "schedulable", "changed"]
EVENT_KINDS: tuple[EventKind, ...] = (
    "added",
    "removed",
    "not_ready",
    "ready",
    "unschedulable",
    "schedulable",
    "changed",
)


@dataclass(frozen=True)
class NodeEvent:
    """One change of one node.

    ``node`` is the node's state after the change (for ``removed``: its last known state); ``previous`` is
    the state before (None for ``added``); ``usable`` says whether discovery would now count the node.
    ``changed`` covers other modelled changes (allocatable CPU/memory, zone/region, labels, the
    ``saga.parsl.org/*`` annotations).
    """

    kind: EventKind
    node: KubeNode
    previous: KubeNode | None = None
    usable: bool = False


def _modelled(node: KubeNode) -> tuple[Any, ...]:
    saga_annotations = tuple(
        sorted((k, v) for k, v in node.annotations.items() if k.startswith("saga.parsl.org/"))
    )
    return (
        node.cpu,
        node.memory,
        node.zone,
        node.region,
        tuple(sorted(node.labels.items())),
        saga_annotations,
    )


class NodeWatch(Iterator[NodeEvent]):
    """An iterator of :class:`NodeEvent`; ``stop()`` (from any thread) ends it promptly.

    Membership (added/removed) follows the static part of the filter (names, label selector, role); state
    events follow Ready, ``spec.unschedulable`` and NoSchedule/NoExecute taints. With ``known`` (e.g. the
    nodes of an earlier :func:`discover`), the first listing is diffed against them, so changes between
    discovery and watch start are not lost; otherwise ``initial_events`` says whether the nodes present at
    start are reported as ``added``.
    """

    def __init__(
        self,
        api_client: client.ApiClient | None = None,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        label_selector: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        include_control_plane: bool = False,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        known: Iterable[KubeNode] | None = None,
        initial_events: bool = True,
        watch_timeout: int = 300,
        connect_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._api = make_api_client(api_client, kubeconfig=kubeconfig, context=context)
        self._host = host_of(self._api)
        self._filter = NodeFilter.build(
            label_selector=label_selector,
            include=include,
            exclude=exclude,
            include_control_plane=include_control_plane,
            tolerations=tolerations,
        )
        self._label_selector = label_selector
        self._state: dict[str, KubeNode] = {}
        self._baseline_given = known is not None
        if known is not None:
            self._state = {n.name: n for n in known}
        self._initial_events = initial_events
        self._watch_timeout = watch_timeout
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stopped = threading.Event()
        self._resp_lock = threading.Lock()
        self._resp: Any = None
        #: Times the node list was re-read after the first listing (410 Gone, reconnects).
        self.relists = 0
        #: Connection failures survived.
        self.reconnects = 0
        self._gen = self._events()

    # -- iterator protocol ---------------------------------------------------------------------------
    def __iter__(self) -> NodeWatch:
        return self

    def __next__(self) -> NodeEvent:
        return next(self._gen)

    @property
    def nodes(self) -> dict[str, KubeNode]:
        """The last known state of every watched node."""
        return dict(self._state)

    def stop(self) -> None:
        """End the stream: the iterator raises StopIteration at its next step (interrupts a blocked read)."""
        self._stopped.set()
        with self._resp_lock:
            resp = self._resp
        if resp is not None:
            try:
                # urllib3 >= 2.3: unblocks a read in another thread.
                shutdown = getattr(resp, "shutdown", None)
                if shutdown is not None:
                    shutdown()
                resp.close()
            except Exception:  # best effort on a connection we are abandoning
                log.debug("k8s.watch.close_failed", exc_info=True)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- internals -----------------------------------------------------------------------------------
    def _usable(self, node: KubeNode) -> bool:
        return not self._filter.reasons(node)

    def _member(self, node: KubeNode) -> bool:
        return not self._filter.static_reasons(node)

    def _transitions(self, old: KubeNode, new: KubeNode) -> list[NodeEvent]:
        usable = self._usable(new)
        events: list[NodeEvent] = []
        if old.ready and not new.ready:
            events.append(NodeEvent("not_ready", new, old, usable))
        elif new.ready and not old.ready:
            events.append(NodeEvent("ready", new, old, usable))
        old_sched = old.schedulable(self._filter.effective_tolerations(old))
        new_sched = new.schedulable(self._filter.effective_tolerations(new))
        if old_sched and not new_sched:
            events.append(NodeEvent("unschedulable", new, old, usable))
        elif new_sched and not old_sched:
            events.append(NodeEvent("schedulable", new, old, usable))
        if _modelled(old) != _modelled(new):
            events.append(NodeEvent("changed", new, old, usable))
        return events

    def _apply(self, node: KubeNode, deleted: bool) -> list[NodeEvent]:
        old = self._state.get(node.name)
        if deleted or not self._member(node):
            if old is None:
                return []
            del self._state[node.name]
            return [NodeEvent("removed", node if deleted else old, old, False)]
        self._state[node.name] = node
        if old is None:
            return [NodeEvent("added", node, None, self._usable(node))]
        return self._transitions(old, node)

    def _relist(self, first: bool) -> tuple[list[NodeEvent], str | None]:
        items, rv = list_nodes_raw(
            self._api, label_selector=self._label_selector, request_timeout=self._connect_timeout + 20
        )
        current: dict[str, KubeNode] = {}
        for item in items:
            node = self._parse(item)
            if node is not None and self._member(node):
                current[node.name] = node
        events: list[NodeEvent] = []
        for name in sorted(set(self._state) - set(current)):
            old = self._state.pop(name)
            events.append(NodeEvent("removed", old, old, False))
        for name in sorted(current):
            events.extend(self._apply(current[name], deleted=False))
        if first and not self._baseline_given and not self._initial_events:
            events = []
        if not first:
            self.relists += 1
        log.info(
            "k8s.watch.listed", host=self._host, nodes=sorted(current), events=len(events), relist=not first
        )
        return events, rv

    def _parse(self, obj: Mapping[str, Any]) -> KubeNode | None:
        try:
            return node_from_dict(obj)
        except K8sTopologyError as exc:
            # A node with a malformed quantity must not kill a long-running watch; discovery reports it.
            log.error("k8s.watch.node_invalid", error=str(exc))
            return None

    def _open_watch(self, rv: str | None) -> Any:
        core = client.CoreV1Api(self._api)
        kwargs: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._watch_timeout,
            "_preload_content": False,
            "_request_timeout": (self._connect_timeout, self._watch_timeout + 30),
        }
        if rv:
            kwargs["resource_version"] = rv
        if self._label_selector:
            kwargs["label_selector"] = self._label_selector
        return core.list_node(**kwargs)

    def _events(self) -> Iterator[NodeEvent]:
        need_list, first, rv = True, True, None
        backoff = self._backoff_initial
        while not self._stopped.is_set():
            try:
                if need_list:
                    events, rv = self._relist(first)
                    first, need_list = False, False
                    yield from events
                resp = self._open_watch(rv)
                with self._resp_lock:
                    self._resp = resp
                if self._stopped.is_set():
                    break
                try:
                    for line in iter_resp_lines(resp):
                        if self._stopped.is_set():
                            break
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            code = int(obj.get("code") or 0)
                            if code == 410:
                                log.info(
                                    "k8s.watch.expired",
                                    host=self._host,
                                    resource_version=rv,
                                    message=obj.get("message"),
                                )
                                need_list = True
                                break
                            raise ApiException(
                                status=code, reason=str(obj.get("message") or obj.get("reason"))
                            )
                        rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                        if kind == "BOOKMARK":
                            continue
                        node = self._parse(obj)
                        if node is None:
                            continue
                        backoff = self._backoff_initial
                        for ev in self._apply(node, deleted=(kind == "DELETED")):
                            log.info("k8s.node." + ev.kind, node=ev.node.name, usable=ev.usable)
                            yield ev
                finally:
                    with self._resp_lock:
                        self._resp = None
                    resp.release_conn()
            except ApiException as exc:
                if exc.status == 410:
                    need_list = True
                    continue
                err = translate_api_exception(exc, "watch", "nodes", self._host)
                if isinstance(err, KubernetesUnauthorized) or int(exc.status or 0) in (401, 403):
                    raise err from exc
                if self._stopped.is_set():
                    break
                backoff = self._pause(backoff, err)
                need_list = True
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                # ValueError: a truncated JSON line when the connection dies mid-event.
                if self._stopped.is_set():
                    break
                backoff = self._pause(backoff, exc)
                need_list = True
            except K8sTopologyError as exc:
                # Raised by the re-list (which translates errors itself).
                if int(getattr(exc, "status", 0) or 0) in (401, 403):
                    raise
                if self._stopped.is_set():
                    break
                backoff = self._pause(backoff, exc)
                need_list = True

    def _pause(self, backoff: float, exc: BaseException) -> float:
        self.reconnects += 1
        log.warning(
            "k8s.watch.reconnecting", host=self._host, delay=backoff, error=f"{type(exc).__name__}: {exc}"
        )
        self._stopped.wait(backoff)
        return min(backoff * 2, self._backoff_max)


def watch_nodes(api_client: client.ApiClient | None = None, **kwargs: Any) -> NodeWatch:
    """An iterator of :class:`NodeEvent`; see :class:`NodeWatch` for the keyword arguments."""
    return NodeWatch(api_client, **kwargs)


class NodeWatcher:
    """The callback API: a daemon thread feeding every :class:`NodeEvent` to ``callback``.

    A callback that raises is logged and does not stop the watch. A fatal error (401/403) ends the thread;
    it is kept in ``error`` and passed to ``on_error`` if given. Use as a context manager or call
    ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        callback: Callable[[NodeEvent], object],
        api_client: client.ApiClient | None = None,
        *,
        on_error: Callable[[BaseException], object] | None = None,
        **kwargs: Any,
    ) -> None:
        self._callback = callback
        self._on_error = on_error
        self.watch = NodeWatch(api_client, **kwargs)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-node-watcher", daemon=True)

    def _run(self) -> None:
        try:
            for event in self.watch:
                try:
                    self._callback(event)
                except Exception:
                    log.exception("k8s.watch.callback_failed", kind=event.kind, node=event.node.name)
        except BaseException as exc:
            self.error = exc
            log.error("k8s.watch.failed", error=str(exc))
            if self._on_error is not None:
                self._on_error(exc)

    def start(self) -> NodeWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.watch.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> NodeWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
