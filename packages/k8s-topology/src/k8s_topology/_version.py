"""The version of the k8s-topology distribution, as installed.

The one place the version is written is ``python_artifact(version=...)`` in packages/k8s-topology/BUILD; the
wheel carries it in its metadata, read here at import time. Run from a source tree with no installed
metadata (e.g. a Pants test sandbox), the version is :data:`UNKNOWN_VERSION` rather than a guess.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "distribution_version"]

#: The distribution name in packages/k8s-topology/BUILD.
DISTRIBUTION = "k8s-topology"

#: The version reported when no installed metadata exists (valid PEP 440, below any real release).
UNKNOWN_VERSION = "0+unknown"


def distribution_version(name: str = DISTRIBUTION) -> str:
    """The installed version of distribution ``name``, or UNKNOWN_VERSION without installed metadata."""
    try:
        return version(name)
    except PackageNotFoundError:
        return UNKNOWN_VERSION
