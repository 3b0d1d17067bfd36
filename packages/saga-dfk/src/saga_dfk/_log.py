"""Key=value events on the standard-library loggers of saga_dfk.

``log.info("task.assigned %s", kv(task_id=7, node="node-a"))`` logs ``task.assigned task_id=7 node=node-a``. The pairs are formatted only when a
handler takes the record, and the fields stay available as ``record.args`` (logging keeps a lone mapping argument as the args).
"""

__all__ = ["kv"]


class kv(dict[str, object]):  # - reads as a function at the call sites
    """The fields of one saga_dfk event; ``str()`` gives them as key=value pairs."""

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.items())
