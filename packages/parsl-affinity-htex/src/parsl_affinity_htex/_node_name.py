"""How a worker pool names its node, shared by the pool and by the executor that predicts that name.

It lives apart from ``worker_pool`` because that module is a ``python -m`` entry point the package must not
import (runpy would warn and run it twice); ``AffinityHighThroughputExecutor.expected_nodes()`` needs the very
same rule to say which node a pool started on this machine will register as.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping

__all__ = ["resolve_node_name"]


def resolve_node_name(cli_value: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """Pick the node name: ``--node-name``, ``PARSL_NODE_NAME``, ``NODE_NAME`` inside Kubernetes, the hostname.

    ``NODE_NAME`` is the conventional downward-API variable (``spec.nodeName``) of a pod, but CI systems and
    shells set variables of that name too; it is read only where Kubernetes sets ``KUBERNETES_SERVICE_HOST``.
    """
    candidates = [cli_value, environ.get("PARSL_NODE_NAME")]
    if environ.get("KUBERNETES_SERVICE_HOST"):
        candidates.append(environ.get("NODE_NAME"))
    for candidate in candidates:
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return platform.node()
