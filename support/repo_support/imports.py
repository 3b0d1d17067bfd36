"""Import-boundary checks shared by the packages' ``test_import_boundary.py``.

Two questions, one answer each:

* which modules does a clean interpreter hold after some code ran (:func:`modules_after`)? A package
  that must never import another (parsl-affinity-htex never imports SAGA or saga_graphs) proves it in a
  fresh process, because the test process itself has imported everything;
* which imports of a source file reach into another package's privates (:func:`private_imports`)? An
  ``ast`` scan: ``import pkg._mod``, ``from pkg._mod import x`` and ``from pkg import _name`` of any
  package not in ``own``. Dunder modules (``__future__``) are not private; relative imports are the
  file's own package.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Collection, Iterable
from pathlib import Path

__all__ = [
    "PROJECT_PACKAGES",
    "assert_no_private_imports",
    "imports",
    "imports_of",
    "is_private",
    "modules_after",
    "package_sources",
    "private_imports",
]

#: The repository's four distributions, by import name.
PROJECT_PACKAGES = frozenset({"saga_graphs", "parsl_affinity_htex", "k8s_topology", "saga_dfk"})


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in ``path``: modules, and ``from m import name`` also
    as ``m.name`` (the name may be a module or a private attribute)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return out


def package_sources(src_dir: Path, tests_dir: Path) -> list[Path]:
    """The ``*.py`` files directly in a package's source directory and in its test directory; asserts both
    are there (``__init__.py`` and at least one test), so that a scan never passes vacuously."""
    files = sorted(src_dir.glob("*.py")) + sorted(tests_dir.glob("*.py"))
    assert src_dir / "__init__.py" in files, f"no {src_dir}/__init__.py: the scan would pass vacuously"
    assert any(path.parent == tests_dir for path in files), f"no {tests_dir}/*.py to scan"
    return files


def _private_prefix(dotted: str) -> str | None:
    """``pkg._mod`` of ``pkg._mod.name``: the name up to its first private part (None if none is)."""
    parts = dotted.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: i + 1])
    return None


def is_private(dotted: str) -> bool:
    """``pkg._mod``, ``pkg.mod._name``: some part after the first starts with one underscore."""
    return _private_prefix(dotted) is not None


def private_imports(
    paths: Iterable[Path],
    own: Collection[str],
    *,
    only: Collection[str] | None = None,
    relative_to: Path | None = None,
) -> list[str]:
    """``"file:line: name"`` for each import of a private module/name of a package not in ``own``
    (restricted to the top-level packages in ``only`` when given). Files are named relative to
    ``relative_to`` (default: their parent's parent)."""
    found: list[str] = []
    for path in paths:
        shown = (
            path.relative_to(relative_to) if relative_to is not None else path.relative_to(path.parents[1])
        )
        seen: set[tuple[int, str]] = set()
        for line, name in imports(path):
            root, prefix = name.split(".")[0], _private_prefix(name)
            if root in own or (only is not None and root not in only) or prefix is None:
                continue
            if (line, prefix) not in seen:  # ``from pkg._mod import a, b``: one finding, pkg._mod
                seen.add((line, prefix))
                found.append(f"{shown}:{line}: {prefix}")
    return found


def assert_no_private_imports(src_dir: Path, tests_dir: Path, own: Collection[str]) -> None:
    """No module of the package (:func:`package_sources`) imports a private module/name of a package not in
    ``own``."""
    offences = private_imports(package_sources(src_dir, tests_dir), own)
    assert offences == [], "private modules/names of other packages: " + "; ".join(offences)


def imports_of(paths: Iterable[Path], roots: Collection[str]) -> list[str]:
    """``"file:line: name"`` for each import in ``paths`` of a top-level package in ``roots`` (files named
    relative to their parent's parent)."""
    return [
        f"{path.relative_to(path.parents[1])}:{line}: {name}"
        for path in paths
        for line, name in imports(path)
        if name.split(".")[0] in roots
    ]


def modules_after(code: str, *, timeout: float = 90) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter that sees this process's ``sys.path``; ``code`` calls
    ``snapshot(label)`` to record the top-level module names loaded so far. Returns label -> names."""
    prelude = (
        "import json as _json, sys as _sys\n"
        "_seen = {}\n"
        "def snapshot(label):\n"
        "    _seen[label] = sorted({m.split('.')[0] for m in _sys.modules})\n"
        "snapshot('start')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", prelude + code + "\nprint(_json.dumps(_seen))\n"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
