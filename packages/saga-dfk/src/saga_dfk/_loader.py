"""Install a SagaDataFlowKernel as Parsl's current DFK.

``parsl.load`` hardcodes ``DataFlowKernel(config)``; apps find their DFK through
``DataFlowKernelLoader.dfk()``, i.e. the class attribute ``DataFlowKernelLoader._dfk``. This replicates
upstream ``DataFlowKernelLoader.load`` (listed in ``_upstream``) with our class, so
``@python_app`` code runs unchanged and upstream ``cleanup()`` still unregisters it (``parsl.clear()``).
"""

from __future__ import annotations

import logging

from parsl.dataflow.dflow import DataFlowKernelLoader
from parsl.errors import ConfigurationError

from ._config import SagaConfig
from ._dfk import SagaDataFlowKernel
from ._log import kv
from ._upstream import check_upstream

__all__ = ["load"]

log = logging.getLogger(__name__)


def load(config: SagaConfig) -> SagaDataFlowKernel:
    """Create a SagaDataFlowKernel from ``config`` and make it Parsl's current DFK.

    Raises parsl's ConfigurationError if a DFK is already loaded, exactly like ``parsl.load``.
    """
    if not isinstance(config, SagaConfig):
        raise TypeError(f"saga_dfk.load needs a SagaConfig, got {type(config).__name__}")
    if DataFlowKernelLoader._dfk is not None:
        raise ConfigurationError("Config has already been loaded")
    drift = check_upstream()
    if drift:
        log.warning("parsl.upstream_changed %s", kv(functions=drift))
    dfk = SagaDataFlowKernel(config)
    DataFlowKernelLoader._dfk = dfk
    return dfk
