"""Lineage: a result kept in a node store that died with its node is made again from how it was made.

With the executor's data plane, a task's big result lives only in its node's store. When that node is lost,
a child that still needs the result fails to fetch it (StoredResultLost). The kernel then asks this part to
re-run the producer (its function and the arguments it ran with, kept while the driver still holds its
result) on any live node. The driver's proxy of the lost result is re-pointed at the new copy, so every
holder of it (the caller's future, children not run yet) sees the new one; the child is re-planned after.
A producer whose own argument was lost too is recovered first, recursively.

The recipe is kept only while the driver holds the result's proxy (a weak reference ends it), so memory
stays bounded by what can still be used.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from parsl.app.errors import RemoteExceptionWrapper
from parsl.dataflow.taskrecord import TaskRecord
from proxystore.proxy import Proxy

from parsl_affinity_htex.errors import StoredResultLost

from ._log import kv

__all__ = ["Lineage", "lost_error", "lost_input"]

log = logging.getLogger(__name__)

#: how many times one result may be made again before its consumers fail
MAX_REMAKES = 3

Done = Callable[[BaseException | None], None]
#: ``submit(func, args, kwargs, avoid)``: run a recipe on the executor, not on node ``avoid`` (the lost one)
Submit = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], str | None], Future]
#: ``remade(old_key, new_key, new_store)``: a lost result exists again, under a new key
Remade = Callable[[str, str, str], None]


@dataclass
class _Recipe:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    proxy: weakref.ref[Any]
    original_key: str = ""
    remakes: int = 0
    avoid: str | None = None  # the node whose store lost it
    current: Any = None  # the proxy of the remade copy: kept alive while the original is
    waiting: list[Done] | None = None  # recoveries in flight wait here


def lost_error(outcome: Any) -> StoredResultLost | None:
    """The StoredResultLost of a try that could not fetch a stored argument, else None. ``outcome``: the
    try's exception (HTEx re-raises a task's StoredResultLost on its future) or its result (other
    executors hand back Parsl's RemoteExceptionWrapper)."""
    if isinstance(outcome, RemoteExceptionWrapper) and outcome.e_type is StoredResultLost:
        outcome = outcome.e_value
    return outcome if isinstance(outcome, StoredResultLost) and outcome.key else None


def lost_input(outcome: Any) -> str | None:
    """The key of the stored argument a try could not fetch (see ``lost_error``), else None."""
    error = lost_error(outcome)
    return None if error is None else error.key


def _node_went(exc: BaseException) -> bool:
    """The try failed because its node went away (not because of the task)."""
    from parsl.executors.high_throughput.errors import ManagerLost

    from parsl_affinity_htex.errors import NodeUnavailable

    return isinstance(exc, ManagerLost | NodeUnavailable)


class Lineage:
    """Recipes of stored results, by store key; ``recover`` makes a lost one again.

    ``submit(func, args, kwargs, avoid)`` runs a recipe on the executor, away from the lost node, and returns
    its future; ``remade`` is told each new copy (for the records).
    """

    def __init__(self, submit: Submit, remade: Remade | None = None) -> None:
        self._submit = submit
        self._on_remade = remade
        self._recipes: dict[str, _Recipe] = {}
        self._lock = threading.Lock()

    def remember(self, key: str, record: TaskRecord, result: Any) -> None:
        """Keep how the result stored under ``key`` was made, while the driver holds ``result`` (its proxy)."""
        try:
            ref = weakref.ref(result)
        except TypeError:
            return
        recipe = _Recipe(record["func"], tuple(record["args"]), dict(record["kwargs"]), ref, original_key=key)
        with self._lock:
            self._recipes[key] = recipe
        weakref.finalize(result, self._forget, key)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._recipes.pop(key, None)

    def knows(self, key: str) -> bool:
        with self._lock:
            return key in self._recipes

    def __len__(self) -> int:
        with self._lock:
            return len(self._recipes)

    def recover(self, key: str, done: Done, lost_on: str | None = None) -> None:
        """Make the result under ``key`` again (not on ``lost_on``, the node whose store lost it);
        ``done(None)`` once the driver's proxy points at the new copy, ``done(error)`` if it cannot be made.
        Never blocks the caller."""
        with self._lock:
            recipe = self._recipes.get(key)
            if recipe is None:
                done(LookupError(f"no recipe for the lost result {key}"))
                return
            if recipe.waiting is not None:  # already being made again for another consumer
                recipe.waiting.append(done)
                return
            if recipe.remakes >= MAX_REMAKES:
                done(RuntimeError(f"result {key} was lost {recipe.remakes + 1} times; not made again"))
                return
            recipe.remakes += 1
            recipe.avoid = lost_on
            recipe.waiting = [done]
        log.warning("lineage.remaking %s", kv(key=key, function=getattr(recipe.func, "__name__", "?")))
        self._run(key, recipe)

    def _run(self, key: str, recipe: _Recipe) -> None:
        try:
            fut = self._submit(recipe.func, recipe.args, recipe.kwargs, recipe.avoid)
        except Exception as e:
            self._finish(key, recipe, e)
            return
        fut.add_done_callback(lambda f: self._remade(key, recipe, f))

    def _remade(self, key: str, recipe: _Recipe, fut: Future) -> None:
        exc = fut.exception()
        lost = lost_input(exc if exc is not None else fut.result())
        if exc is not None and lost is None:
            if _node_went(exc) and recipe.remakes < MAX_REMAKES:  # the copy's node went too: once more
                with self._lock:
                    recipe.remakes += 1
                log.warning("lineage.remaking_again %s", kv(key=key, error=type(exc).__name__))
                self._run(key, recipe)
                return
            self._finish(key, recipe, exc)
            return
        if lost is not None and self.knows(lost):  # the recipe's own argument is gone too: that one first
            error = lost_error(exc if exc is not None else fut.result())
            self.recover(
                lost,
                lambda failed: self._finish(key, recipe, failed) if failed else self._run(key, recipe),
                lost_on=error.producer_node if error is not None else None,
            )
            return
        if lost is not None:  # lost, and no recipe to make it again
            self._finish(key, recipe, exc if exc is not None else fut.result().get_exception())
            return
        new = fut.result()
        if isinstance(new, RemoteExceptionWrapper):
            self._finish(key, recipe, new.get_exception())
            return
        if type(new) is not Proxy:  # the node that made it again keeps no store: nothing to point at
            self._finish(
                key, recipe, RuntimeError(f"result {key} was made again but not kept in a node store")
            )
            return
        original = recipe.proxy()
        if original is not None:
            # the driver's proxy now resolves to the new copy, wherever it is held
            factory = object.__getattribute__(new, "__proxy_factory__")
            object.__setattr__(original, "__proxy_factory__", factory)
            recipe.current = new
            new_key = str(factory.key.redis_key)
            with self._lock:  # a loss of the new copy is recovered the same way
                self._recipes[new_key] = recipe
            if self._on_remade is not None:
                try:
                    self._on_remade(recipe.original_key, new_key, factory.store_config.name)
                except Exception:
                    log.exception("lineage.record_failed %s", kv(key=key))
        self._finish(key, recipe, None)

    def _finish(self, key: str, recipe: _Recipe, error: BaseException | None) -> None:
        with self._lock:
            waiting, recipe.waiting = recipe.waiting or [], None
        if error is None:
            log.info("lineage.remade %s", kv(key=key, consumers=len(waiting)))
        for done in waiting:
            try:
                done(error)
            except Exception:
                log.exception("lineage.callback_failed %s", kv(key=key))
