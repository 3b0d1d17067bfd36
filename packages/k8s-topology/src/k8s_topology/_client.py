"""Getting an ApiClient and turning transport/HTTP failures into this package's typed errors.

An ``ApiClient`` is built without touching the kubernetes module's process-wide default configuration
(``new_client_from_config`` / ``load_incluster_config(client_configuration=...)``), so several clusters
can be used side by side and tests cannot leak configuration into each other.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3  # pants: no-infer-dep (a dependency of kubernetes, not a direct requirement)
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from k8s_topology._log import kv
from k8s_topology.errors import (
    KubeConfigError,
    KubernetesApiError,
    KubernetesForbidden,
    KubernetesUnauthorized,
    KubernetesUnreachable,
)

log = logging.getLogger(__name__)


def make_api_client(
    api_client: client.ApiClient | None = None,
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
) -> client.ApiClient:
    """Return ``api_client`` if given, else one from ``kubeconfig`` (or the default kubeconfig
    location / ``$KUBECONFIG``), else the in-cluster service-account configuration.

    Raises :class:`KubeConfigError` naming every place that was tried.
    """
    if api_client is not None:
        return api_client
    explicit = kubeconfig is not None
    if kubeconfig is not None:
        path = Path(kubeconfig).expanduser()
    else:
        path = Path(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
    tried: list[str] = []
    if explicit or path.exists():
        try:
            api = config.new_client_from_config(config_file=str(path), context=context)
            log.debug("k8s.client.kubeconfig %s", kv(path=str(path), context=context))
            return api
        except (ConfigException, OSError, ValueError) as exc:
            if explicit or context is not None:
                raise KubeConfigError(
                    f"kubeconfig {str(path)!r} (context {context!r}) is not usable: {exc}"
                ) from exc
            tried.append(f"kubeconfig {str(path)!r}: {exc}")
    else:
        tried.append(f"kubeconfig {str(path)!r}: file not found")
    cfg = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=cfg)
    except ConfigException as exc:
        tried.append(f"in-cluster config: {exc}")
        raise KubeConfigError("no Kubernetes client configuration found; tried " + "; ".join(tried)) from exc
    log.debug("k8s.client.incluster %s", kv(host=cfg.host))
    return client.ApiClient(cfg)


def host_of(api: client.ApiClient) -> str:
    return str(getattr(api.configuration, "host", "?"))


def _status_detail(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
        return str(body)[:300]
    return str(exc.reason or "")


def translate_api_exception(exc: ApiException, verb: str, resource: str, host: str) -> Exception:
    """Map an ApiException to a typed error whose message starts with "<verb> <resource>: ..."."""
    status = int(exc.status or 0)
    detail = _status_detail(exc)
    if status == 0:
        # The generated client reports TLS and some transport failures as status 0.
        err0 = KubernetesUnreachable(
            f"{verb} {resource}: Kubernetes API server {host!r} is unreachable ({detail})"
        )
        err0.host = host
        return err0
    if status == 401:
        err: KubernetesApiError = KubernetesUnauthorized(
            f"{verb} {resource}: unauthorized (HTTP 401) by {host!r}: the credentials were rejected: {detail}"
        )
    elif status == 403:
        err = KubernetesForbidden(
            f"{verb} {resource}: forbidden (HTTP 403) by {host!r}: RBAC must allow verb {verb!r} on "
            f"resource {resource!r} (see k8s-topology's manifests/rbac.yaml): {detail}"
        )
    else:
        return KubernetesApiError.for_status(status, verb, resource, detail)
    err.status, err.verb, err.resource = status, verb, resource
    return err


@contextmanager
def api_errors(verb: str, resource: str, host: str) -> Iterator[None]:
    """Translate transport and HTTP errors raised inside the block into typed errors."""
    try:
        yield
    except ApiException as exc:
        raise translate_api_exception(exc, verb, resource, host) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubernetesUnreachable.for_host(host, f"{verb} {resource}", exc) from exc


def list_nodes_raw(
    api: client.ApiClient,
    *,
    label_selector: str | None = None,
    request_timeout: float | tuple[float, float] = 30.0,
) -> tuple[list[dict[str, Any]], str | None]:
    """``GET /api/v1/nodes`` as raw JSON: (items, list resourceVersion). Never touches pods."""
    core = client.CoreV1Api(api)
    kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": request_timeout}
    if label_selector:
        kwargs["label_selector"] = label_selector
    host = host_of(api)
    with api_errors("list", "nodes", host):
        resp: Any = core.list_node(**kwargs)  # raw urllib3 response: _preload_content=False
        try:
            payload = json.loads(resp.data)
        finally:
            resp.release_conn()
    items = list(payload.get("items") or [])
    rv = (payload.get("metadata") or {}).get("resourceVersion")
    return items, rv
