"""Start Parsl worker pools by hand, one per "node", against a running executor's interchange.

Why by hand: in the namespace tier there is no batch system to start pools; the fixture is the resource
manager and decides which namespace each pool runs in. The pool's arguments are taken from the executor's
own formatted launch command (after ``start()``), so address, port, cert dir, heartbeat settings and
worker count are exactly what the interchange expects; only the interpreter and the module change.

Children run first-party modules (``parsl_affinity_htex.worker_pool``, ``e2e_tests.workflow``), which a
Pants test sandbox only exposes through ``sys.path``; :func:`child_env` hands it down as PYTHONPATH.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

STOCK_POOL_MODULE = "parsl.executors.high_throughput.process_worker_pool"
AFFINITY_POOL_MODULE = "parsl_affinity_htex.worker_pool"
_POOL_ENTRY_TOKENS = ("process_worker_pool.py", STOCK_POOL_MODULE, AFFINITY_POOL_MODULE)


class PoolLaunchError(RuntimeError):
    """The executor's launch command could not be turned into a pool command line."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for child processes: ours plus PYTHONPATH = our sys.path (first-party code under Pants)."""
    env = dict(os.environ)
    paths = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
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
    """Command line for one pool of ``executor`` on ``node`` running ``module`` with our interpreter."""
    args = upstream_pool_args(str(executor.launch_cmd), block_id)
    if module == AFFINITY_POOL_MODULE:
        # The affinity pool also reads NODE_NAME; the flag makes the name explicit in `ps` output.
        args = [a for a in args if not a.startswith("--node-name")]
        args += ["--node-name", node]
    return [sys.executable, "-m", module, *args]


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``predicate`` until true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def connected_manager_count(executor: Any) -> int:
    """Active managers the interchange knows (works for stock and affinity executors)."""
    try:
        managers: Sequence[Mapping[str, Any]] = executor.connected_managers()
    except Exception:
        return 0
    return sum(1 for m in managers if m.get("active", True))
