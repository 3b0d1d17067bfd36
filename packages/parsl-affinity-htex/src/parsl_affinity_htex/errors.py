"""Every error and warning parsl_affinity_htex raises, in one namespace: ``parsl_affinity_htex.errors``.

``except parsl_affinity_htex.errors.NodeUnavailable`` and so on. The classes are defined in the package's
private ``_errors`` module (their pickles, which cross Parsl's process boundaries, name it); this module is
the place users import them from. They are not top-level names of the package.
"""

from parsl_affinity_htex._errors import (
    AffinitySpecError,
    InsecureTransportWarning,
    InterchangeLost,
    InvalidClusterSpecError,
    InvalidDataPlaneError,
    NodeUnavailable,
    NotOnAffinityWorker,
    StoredResultLost,
)

__all__ = [
    "AffinitySpecError",
    "InsecureTransportWarning",
    "InterchangeLost",
    "InvalidClusterSpecError",
    "InvalidDataPlaneError",
    "NodeUnavailable",
    "NotOnAffinityWorker",
    "StoredResultLost",
]
