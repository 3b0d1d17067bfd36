"""Key=value events on the standard-library loggers of parsl_affinity_htex.

``log.info("node.lost %s", kv(node="node-b", queued=3))`` logs ``node.lost node=node-b queued=3``. The pairs are formatted only when a
handler takes the record, and the fields stay available as ``record.args`` (logging keeps a lone mapping argument as the args).
"""

__all__ = ["kv"]


class kv(dict[str, object]):  # - reads as a function at the call sites
    """The fields of one parsl_affinity_htex event; ``str()`` gives them as key=value pairs."""

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.items())
