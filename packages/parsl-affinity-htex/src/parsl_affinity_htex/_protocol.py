"""Names shared by the executor (driver) and the interchange process.

Kept apart from ``interchange`` so importing the package never imports the module that ``python -m`` runs
(runpy warns, and the module would exist twice).
"""

from typing import Final

__all__ = ["NODES_COMMAND", "STATS_COMMAND"]

#: Command-channel request answered with ``{node: {"slots", "pools", "managers", "blocks", "queued"}}``.
NODES_COMMAND: Final = "AFFINITY_NODES"
#: Command-channel request answered with the affinity policy's counters (see ``AffinityStats``).
STATS_COMMAND: Final = "AFFINITY_STATS"
