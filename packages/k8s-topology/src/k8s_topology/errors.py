"""Every error k8s_topology raises on purpose, in one namespace: ``k8s_topology.errors``.

All derive from :class:`K8sTopologyError` (also exported as ``k8s_topology.K8sTopologyError``)::

    K8sTopologyError
    ├── KubeConfigError            no usable kubeconfig / in-cluster configuration
    ├── KubernetesUnreachable      refused, DNS, TLS, timeout (``host``)
    ├── KubernetesApiError         other HTTP errors (``status``, ``verb``, ``resource``)
    │   ├── KubernetesUnauthorized HTTP 401
    │   └── KubernetesForbidden    HTTP 403: "list nodes: forbidden ..."
    ├── NoUsableNodes              discovery kept no node (``excluded``: name -> reason)
    ├── NoNodeAvailable            the pinned provider has no free node for a block
    ├── InvalidQuantity            (also ValueError) a malformed node quantity (``node``, ``field``, ``value``)
    ├── InvalidLabelSelector       (also ValueError) label-selector syntax
    └── InvalidOverride            (also ValueError) a bad option given in code (overrides, tolerations, ...)

Every error names the bad value and what was expected, so that a user who only sees the message can fix
the cause. All errors survive pickling (``__reduce__`` keeps the one-argument constructor plus the extra
attributes), because a provider error may be raised in Parsl's strategy thread and shipped elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "InvalidLabelSelector",
    "InvalidOverride",
    "InvalidQuantity",
    "K8sTopologyError",
    "KubeConfigError",
    "KubernetesApiError",
    "KubernetesForbidden",
    "KubernetesUnauthorized",
    "KubernetesUnreachable",
    "NoNodeAvailable",
    "NoUsableNodes",
]


class K8sTopologyError(Exception):
    """Base class of every error this package raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # One-argument constructor + the instance dict: attributes set after __init__ survive pickling.
        return (type(self), (self.message,), dict(self.__dict__))

    def __str__(self) -> str:
        return self.message


class KubeConfigError(K8sTopologyError):
    """No usable client configuration: kubeconfig missing or invalid, and not running in a cluster."""


class KubernetesUnreachable(K8sTopologyError):
    """The API server could not be reached (refused, DNS, TLS, timeout)."""

    host: str = ""

    @classmethod
    def for_host(cls, host: str, action: str, cause: BaseException) -> KubernetesUnreachable:
        err = cls(
            f"{action}: Kubernetes API server {host!r} is unreachable ({type(cause).__name__}: {cause})"
        )
        err.host = host
        return err


class KubernetesApiError(K8sTopologyError):
    """The API server answered with an error status this package does not handle more specifically."""

    status: int = 0
    verb: str = ""
    resource: str = ""

    @classmethod
    def for_status(cls, status: int, verb: str, resource: str, detail: str) -> KubernetesApiError:
        err = cls(f"{verb} {resource}: HTTP {status}: {detail}")
        err.status, err.verb, err.resource = status, verb, resource
        return err


class KubernetesUnauthorized(KubernetesApiError):
    """HTTP 401: the credentials (token, client certificate) were not accepted."""


class KubernetesForbidden(KubernetesApiError):
    """HTTP 403: authenticated, but RBAC does not allow the verb on the resource.

    The message starts with "<verb> <resource>: forbidden" (e.g. "list nodes: forbidden") so that the
    missing rule can be read off directly; see ``manifests/rbac.yaml`` for the rules this package needs.
    """


class NoUsableNodes(K8sTopologyError):
    """Discovery found no node that may run workers; ``excluded`` says which nodes were dropped and why."""

    excluded: Mapping[str, str] = {}

    @classmethod
    def from_excluded(cls, excluded: Mapping[str, str]) -> NoUsableNodes:
        if excluded:
            listing = "; ".join(f"{name}: {reason}" for name, reason in sorted(excluded.items()))
            msg = f"no usable Kubernetes nodes: {len(excluded)} node(s) filtered out ({listing})"
        else:
            msg = "no usable Kubernetes nodes: the API server listed no nodes at all"
        err = cls(msg)
        err.excluded = dict(excluded)
        return err


class InvalidQuantity(K8sTopologyError, ValueError):
    """A node field, label or annotation holds a value that is not a valid Kubernetes quantity / number."""

    node: str = ""
    field: str = ""
    value: str = ""

    @classmethod
    def for_value(cls, node: str, field: str, value: object, expected: str) -> InvalidQuantity:
        err = cls(f"node {node!r}: {field} = {value!r} is not {expected}")
        err.node, err.field, err.value = node, field, str(value)
        return err


class InvalidLabelSelector(K8sTopologyError, ValueError):
    """A label selector string that does not follow Kubernetes label-selector syntax."""


class InvalidOverride(K8sTopologyError, ValueError):
    """An option given in code holds a bad value: a slots/speed/bandwidth override naming an unknown node,
    a malformed toleration, a bad image pull policy, ..."""


class NoNodeAvailable(K8sTopologyError):
    """The pinned provider was asked for a block but every node it serves already has its pools."""
