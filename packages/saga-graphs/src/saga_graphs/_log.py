"""Key=value events on the standard-library loggers of saga_graphs.

``log.info("plan.done %s", kv(scheduler="HEFT", tasks=6))`` logs ``plan.done scheduler=HEFT tasks=6``. The pairs are formatted only when a
handler takes the record, and the fields stay available as ``record.args`` (logging keeps a lone mapping argument as the args).
"""

__all__ = ["kv"]


class kv(dict[str, object]):  # - reads as a function at the call sites
    """The fields of one saga_graphs event; ``str()`` gives them as key=value pairs."""

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.items())
