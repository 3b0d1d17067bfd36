"""saga-dfk: plan a whole Parsl workflow with SAGA and run every task on its planned node.

Usage: ``dfk = saga_dfk.load(SagaConfig(executors=[AffinityHighThroughputExecutor(...)]))``; apps are
plain ``@python_app``s; rounds plan them when submissions settle (``dfk.execute()`` plans at once).

Errors live in one namespace, :mod:`saga_dfk.errors` (``except saga_dfk.errors.SagaDfkError`` catches them
all). Where a task ran is the executor's ``parsl_affinity_htex.RunRecord``, also in run reports.
"""

import logging as _std_logging
from importlib.metadata import distributions as _distributions

from . import errors
from ._config import SagaConfig
from ._dfk import SagaDataFlowKernel, TaskAssignment
from ._loader import load
from ._network_source import KubernetesNetworkSource, NetworkEvent, NetworkSource
from ._protocols import AnnouncesExpectedNodes, ReportsConnectedNodes, ReportsNodeChanges
from ._report import load_report

__all__ = [
    "AnnouncesExpectedNodes",
    "KubernetesNetworkSource",
    "NetworkEvent",
    "NetworkSource",
    "ReportsConnectedNodes",
    "ReportsNodeChanges",
    "SagaConfig",
    "SagaDataFlowKernel",
    "TaskAssignment",
    "errors",
    "load",
    "load_report",
]

#: The installed metadata's version (the one in saga-dfk's BUILD file); "0+unknown" without any.
__version__: str = next((d.version for d in _distributions(name="saga-dfk")), "0+unknown")
_std_logging.getLogger(__name__).addHandler(_std_logging.NullHandler())  # silent unless the app asks
