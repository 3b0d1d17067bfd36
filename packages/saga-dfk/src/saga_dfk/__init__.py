"""saga-dfk: plan a whole Parsl workflow with SAGA and run every task on its planned node.

Usage: ``dfk = saga_dfk.load(SagaConfig(executors=[AffinityHighThroughputExecutor(...)]))``; apps are
plain ``@python_app``s; ``dfk.execute()`` (explicit mode) or rolling rounds plan and release them.
"""

from ._config import SagaConfig
from ._dfk import ActualRun, SagaDataFlowKernel, TaskAssignment
from ._errors import EmptyTopologyError, InvalidSagaConfigError, NoPlannableExecutorError, SagaDfkError
from ._loader import load
from ._report import load_report

__all__ = [
    "ActualRun",
    "EmptyTopologyError",
    "InvalidSagaConfigError",
    "NoPlannableExecutorError",
    "SagaConfig",
    "SagaDataFlowKernel",
    "SagaDfkError",
    "TaskAssignment",
    "load",
    "load_report",
]
