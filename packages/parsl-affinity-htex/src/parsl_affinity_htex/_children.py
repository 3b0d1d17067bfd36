"""The import path the processes we start on this machine inherit from the process that starts them.

Why: the interchange and the worker pools are ``python -m parsl_affinity_htex....`` processes. An installed
wheel is importable from anywhere, but in a PEX venv (``pants test`` / ``pants run``) or a source checkout
first-party code is only on the *caller's* ``sys.path``, which a child does not inherit. The launchers this
package owns therefore hand that path down explicitly, as ``PYTHONPATH`` in the child's command line
(``env PYTHONPATH=... python -m ...``), and never through ``os.environ``: the caller's environment is left
as it was, and only the processes we start see the path.

Who carries it (and nobody else): the executor's default ``interchange_launch_cmd``, its default pool
``launch_cmd`` when the provider starts pools on this machine (a ``LocalProvider``), and every pool a
``LocalVirtualClusterProvider`` starts. Pools on other machines (Kubernetes, a batch system) and any
user-given ``launch_cmd`` are left alone: a path of this machine means nothing there, and would replace the
image's own ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shlex
import sys

__all__ = ["carry_import_path", "child_pythonpath", "import_path_argv"]


def child_pythonpath() -> str:
    """``PYTHONPATH`` for a child of this process: the ``sys.path`` entries that exist, absolute, in order.

    Read at each call (``sys.path`` may have changed); duplicates and entries that do not exist (``""``, a
    missing zip) are dropped. Joined with ``os.pathsep``.
    """
    paths = (os.path.abspath(p) for p in sys.path if p and os.path.exists(p))
    return os.pathsep.join(dict.fromkeys(paths))


def import_path_argv() -> list[str]:
    """``["env", "PYTHONPATH=<child_pythonpath()>"]``: put it in front of a child's argv.

    ``env`` (found on the default search path even when ``PATH`` is unset) execs the program, so the
    child keeps the pid the caller sees, its stdin and its signals.
    """
    return ["env", f"PYTHONPATH={child_pythonpath()}"]


def carry_import_path(command: str) -> str:
    """Shell ``command`` run with this process's import path, unless it already starts ``env PYTHONPATH=``."""
    if _carries_import_path(command):
        return command
    return f"{shlex.join(import_path_argv())} {command}"


def _carries_import_path(command: str) -> bool:
    try:
        head = shlex.split(command)[:2]
    except ValueError:  # unbalanced quotes: not ours to judge; the shell will say what is wrong
        return False
    return len(head) == 2 and head[0] == "env" and head[1].startswith("PYTHONPATH=")
