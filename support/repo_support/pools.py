"""Start Parsl worker pools by hand, one per "node", against a running executor's interchange.

Why by hand: in the namespace tier and the makespan benchmark there is no batch system to start pools; the
caller is the resource manager and decides which namespace (or container) each pool runs in. The pool's
arguments are taken from the executor's own formatted launch command (after ``start()``), so address, port,
cert dir, heartbeat settings and worker count are exactly what the interchange expects; only the
interpreter and the module change.

Such a pool (and any other child started by hand) imports first-party modules -- the pool module, the
tasks' module -- that under Pants exist only on this process's ``sys.path``: :func:`child_env` hands that
path down with parsl-affinity-htex's :func:`~parsl_affinity_htex.child_pythonpath`, the one definition of
"the import path for a child" that the executor and the virtual cluster use too.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from parsl_affinity_htex import child_pythonpath

__all__ = [
    "AFFINITY_POOL_MODULE",
    "STOCK_POOL_MODULE",
    "PoolLaunchError",
    "child_env",
    "connected_manager_count",
    "pool_argv",
    "upstream_pool_args",
]

STOCK_POOL_MODULE = "parsl.executors.high_throughput.process_worker_pool"
AFFINITY_POOL_MODULE = "parsl_affinity_htex.worker_pool"
_POOL_ENTRY_TOKENS = ("process_worker_pool.py", STOCK_POOL_MODULE, AFFINITY_POOL_MODULE)


class PoolLaunchError(RuntimeError):
    """The executor's launch command could not be turned into a pool command line."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child started by hand: ours, PYTHONPATH = our import path, then ``extra``.

    Returns a new dict; ``os.environ`` is not changed.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = child_pythonpath()
    env.setdefault("HOME", "/tmp")
    env.update(extra or {})
    return env


def upstream_pool_args(launch_cmd: str, block_id: str) -> list[str]:
    """The pool arguments of an executor's formatted launch command (everything after the entry point)."""
    if not launch_cmd:
        raise PoolLaunchError("executor has no launch_cmd; call this after the executor started")
    argv = shlex.split(launch_cmd.replace("{block_id}", block_id))
    for index, token in enumerate(argv):
        if token.endswith(_POOL_ENTRY_TOKENS):
            return argv[index + 1 :]
    raise PoolLaunchError(f"no worker-pool entry point ({', '.join(_POOL_ENTRY_TOKENS)}) in {launch_cmd!r}")


def pool_argv(executor: Any, *, node: str, block_id: str, module: str) -> list[str]:
    """``[python, "-m", module, *args]``: one pool of ``executor`` on ``node``, with our interpreter.

    Start it with ``env=child_env(...)`` (first-party code); ``[3:]`` is the pool's arguments alone.
    """
    args = upstream_pool_args(str(executor.launch_cmd), block_id)
    if module == AFFINITY_POOL_MODULE:
        # The affinity pool also reads NODE_NAME; the flag makes the name explicit in `ps` output.
        args = [a for a in args if not a.startswith("--node-name")]
        args += ["--node-name", node]
    return [sys.executable, "-m", module, *args]


def connected_manager_count(executor: Any) -> int:
    """Active managers the interchange knows (works for stock and affinity executors)."""
    try:
        managers: Sequence[Mapping[str, Any]] = executor.connected_managers()
    except Exception:
        return 0
    return sum(1 for m in managers if m.get("active", True))
