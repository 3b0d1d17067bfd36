"""Fingerprints of the upstream Parsl functions saga-dfk overrides, copies or relies on.

saga-dfk subclasses Parsl's DataFlowKernel; a Parsl release that changes these functions can silently
break the hold/plan/release logic. The sha256 of each function's source (``inspect.getsource``) as of
the pinned Parsl version is recorded here; a test asserts they still match and ``load()`` logs a
warning when they do not.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

from parsl.dataflow.dflow import DataFlowKernel, DataFlowKernelLoader

__all__ = ["PARSL_VERSION", "UPSTREAM_FINGERPRINTS", "check_upstream", "fingerprint", "upstream_functions"]

PARSL_VERSION = "2026.10.26"


def upstream_functions() -> dict[str, Callable[..., Any]]:
    """The upstream functions whose behaviour saga-dfk depends on, by qualified name."""
    return {
        "DataFlowKernel.__init__": DataFlowKernel.__init__,
        "DataFlowKernel.submit": DataFlowKernel.submit,  # calls launch_if_ready last; shared spec dict
        "DataFlowKernel.launch_if_ready": DataFlowKernel.launch_if_ready,  # overridden
        "DataFlowKernel._launch_if_ready_async": DataFlowKernel._launch_if_ready_async,  # lock + launch_task
        "DataFlowKernel.launch_task": DataFlowKernel.launch_task,  # overridden, called via super
        "DataFlowKernel.handle_exec_update": DataFlowKernel.handle_exec_update,  # consumes our proxy future
        "DataFlowKernel.wait_for_current_tasks": DataFlowKernel.wait_for_current_tasks,  # overridden
        "DataFlowKernel.cleanup": DataFlowKernel.cleanup,  # overridden
        "DataFlowKernelLoader.load": DataFlowKernelLoader.load,  # replicated by saga_dfk.load
    }


def fingerprint(func: Callable[..., Any]) -> str:
    """sha256 of a function's source, unwrapping decorators such as typeguard's."""
    target = inspect.unwrap(func)
    return hashlib.sha256(inspect.getsource(target).encode()).hexdigest()


UPSTREAM_FINGERPRINTS: dict[str, str] = {
    "DataFlowKernel.__init__": "127d2bd72115de567427e78450657681ca8017ef0b7264579573d3acdb82c8a0",
    "DataFlowKernel.submit": "02bb7f91fb48a9e7b41956c39e430cea52078b1de12d844e920b964587f72417",
    "DataFlowKernel.launch_if_ready": "dd522a19e92ae0070f4ff2553b0873081f8cc4adf9d4aa0e8dd4f7009559842f",
    "DataFlowKernel._launch_if_ready_async": "dad5556f8de6d557a8fb90766b3f451f1dde7ff324ef9e0b67adf76449b823a2",
    "DataFlowKernel.launch_task": "06277e6992ca5614604e15decfb04c873ce9dcd2cb25d5a79cfbb084f27ce4fa",
    "DataFlowKernel.handle_exec_update": "97931707ebc281bca1563770f70675c3aa47f19fc61ff33fd073583b00d23799",
    "DataFlowKernel.wait_for_current_tasks": "6aa88b5c59dc2c82b739f97ebd66384e311f22652870454a04efeaf1f18ac6ee",
    "DataFlowKernel.cleanup": "7095d85f7f94f6b6df7267b998248ac6da008062a192256464c80bacb1c4f111",
    "DataFlowKernelLoader.load": "d71bd8c4c06be03a749aa0842e385cfcff80b686e252357421c607157bc48193",
}


def check_upstream() -> list[str]:
    """Names of upstream functions whose source differs from the recorded fingerprint."""
    return [
        name
        for name, func in upstream_functions().items()
        if UPSTREAM_FINGERPRINTS.get(name) != fingerprint(func)
    ]
