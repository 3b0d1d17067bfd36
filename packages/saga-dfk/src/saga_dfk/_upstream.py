"""Every upstream Parsl function and private attribute saga-dfk overrides, copies or relies on.

saga-dfk subclasses Parsl's DataFlowKernel (parsl is pinned exactly, ``PARSL_VERSION``); a Parsl release that
changes these functions can silently break the hold/plan/release logic. Each entry records the sha256 of the
upstream source and why we depend on it, so such a change fails a test naming the function
(``tests/saga_dfk_tests/test_upstream.py``), and :func:`check_upstream` lets ``saga_dfk.load()`` log
``parsl.upstream_changed`` at run time (installed wheels carry no tests).

* ``FUNCTIONS``: dotted name -> (sha256 of ``inspect.getsource(inspect.unwrap(obj))``, why).
* ``SOURCES``: none.
* ``ATTRIBUTES``: a FUNCTIONS name -> attributes we rely on that it sets or uses (each must appear as
  ``.<name>`` in its source).
"""

from __future__ import annotations

import hashlib
import inspect
import pkgutil
from typing import Final

__all__ = ["ATTRIBUTES", "FUNCTIONS", "PARSL_VERSION", "SOURCES", "check_upstream"]

PARSL_VERSION: Final = "2026.10.26"

_DFK = "parsl.dataflow.dflow.DataFlowKernel"
_OURS = "saga_dfk._dfk.SagaDataFlowKernel"

FUNCTIONS: Final[dict[str, tuple[str, str]]] = {
    f"{_DFK}.__init__": (
        "127d2bd72115de567427e78450657681ca8017ef0b7264579573d3acdb82c8a0",
        f"relied on: {_OURS}.__init__ calls it after setting its own state (it starts the executors, which may "
        "already report nodes)",
    ),
    f"{_DFK}.submit": (
        "02bb7f91fb48a9e7b41956c39e430cea52078b1de12d844e920b964587f72417",
        f"overridden by {_OURS}.submit (checks a caller's hard pin, then calls it); calls launch_if_ready last; "
        "an app's default resource specification is one dict shared by all its calls",
    ),
    f"{_DFK}.launch_if_ready": (
        "dd522a19e92ae0070f4ff2553b0873081f8cc4adf9d4aa0e8dd4f7009559842f",
        f"overridden by {_OURS}.launch_if_ready (holds planned tasks, then calls it)",
    ),
    f"{_DFK}._launch_if_ready_async": (
        "dad5556f8de6d557a8fb90766b3f451f1dde7ff324ef9e0b67adf76449b823a2",
        "relied on: runs in the one Task-Launch thread (_task_launch_pool), which our dispatch also uses, and "
        "calls launch_task; our re-planning never takes task_launch_lock",
    ),
    f"{_DFK}.launch_task": (
        "06277e6992ca5614604e15decfb04c873ce9dcd2cb25d5a79cfbb084f27ce4fa",
        f"overridden by {_OURS}.launch_task (returns a proxy future) and called through super / directly",
    ),
    f"{_DFK}.handle_exec_update": (
        "97931707ebc281bca1563770f70675c3aa47f19fc61ff33fd073583b00d23799",
        "relied on: consumes our proxy future like an executor future",
    ),
    f"{_DFK}.wait_for_current_tasks": (
        "6aa88b5c59dc2c82b739f97ebd66384e311f22652870454a04efeaf1f18ac6ee",
        f"overridden by {_OURS}.wait_for_current_tasks (releases held tasks, then calls it)",
    ),
    f"{_DFK}.cleanup": (
        "7095d85f7f94f6b6df7267b998248ac6da008062a192256464c80bacb1c4f111",
        f"overridden by {_OURS}.cleanup (fails held tasks, then calls it); sets cleanup_called; shuts "
        "_task_launch_pool down",
    ),
    f"{_DFK}._unwrap_futures": (
        "81a7619dd514f71e20951e93d1a5a716862bfb6cc15da6e68d71d4759f231144",
        f"relied on: every dependency is unwrapped through self.dependency_resolver.traverse_to_unwrap, which "
        f"{_OURS}.__init__ wraps so a result kept in a node store reaches the child as its proxy",
    ),
    f"{_DFK}._complete_task_exception": (
        "4b6b9573b238162e04a6893ab72ba4529b3eb08386616b3ef5827abc1829c9f6",
        f"called by {_OURS}._fail: a task saga-dfk cannot plan fails as final, without spending Parsl retries",
    ),
    "parsl.dataflow.dflow.DataFlowKernelLoader.load": (
        "d71bd8c4c06be03a749aa0842e385cfcff80b686e252357421c607157bc48193",
        "copied and adapted into saga_dfk._loader.load (our kernel class in DataFlowKernelLoader._dfk)",
    ),
}

SOURCES: Final[dict[str, tuple[str, str]]] = {}

ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    f"{_DFK}.__init__": ("cleanup_called", "executors", "_task_launch_pool", "dependency_resolver"),
    f"{_DFK}._unwrap_futures": ("dependency_resolver", "traverse_to_unwrap"),
    f"{_DFK}.cleanup": ("cleanup_called", "_task_launch_pool"),
    f"{_DFK}._complete_task_exception": ("memoizer", "wipe_task"),
    "parsl.dataflow.dflow.DataFlowKernelLoader.load": ("_dfk",),
}


def check_upstream() -> list[str]:
    """Dotted names of the FUNCTIONS whose installed source differs from the recorded sha256 (or is gone)."""
    changed = []
    for name, (expected, _why) in FUNCTIONS.items():
        try:
            source = inspect.getsource(inspect.unwrap(pkgutil.resolve_name(name)))
        except Exception:  # moved or removed upstream: changed as far as we are concerned
            changed.append(name)
            continue
        if hashlib.sha256(source.encode()).hexdigest() != expected:
            changed.append(name)
    return changed
