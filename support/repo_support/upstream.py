"""Check a package's ``_upstream`` module against the upstream code installed in this environment.

Each package that copies, overrides or relies on upstream (Parsl, kubernetes) code lists it in one data
module, ``<package>/_upstream.py``:

* ``PARSL_VERSION``: the exact parsl version the list was written against;
* ``FUNCTIONS``: dotted upstream name (``module.Class.func``, ``module.func`` or ``module.Class``) ->
  (sha256 of ``inspect.getsource(inspect.unwrap(obj))``, why we depend on it);
* ``SOURCES``: ``"module:__main__"`` (the module's ``if __name__ == "__main__":`` block to the end of the
  file) or ``"module:NAME"`` (``repr`` of a module constant) -> (sha256 of that text, why);
* ``ATTRIBUTES``: dotted name of a FUNCTIONS entry -> attribute names we rely on that it sets or uses;
  each must still appear as ``.<name>`` in its source.

A package's ``test_upstream.py`` parametrizes over :func:`upstream_test_cases`, so a change upstream fails
one test that names the upstream function and says why we depend on it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any

__all__ = [
    "UpstreamCase",
    "function_source",
    "sha256",
    "source_text",
    "stale_fingerprints",
    "upstream_test_cases",
]

MAIN_BLOCK = '\nif __name__ == "__main__":'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def function_source(dotted: str) -> str:
    """Source of an upstream function, method or class, with decorators unwrapped."""
    obj: Any = pkgutil.resolve_name(dotted)
    if isinstance(obj, property):
        obj = obj.fget
    elif isinstance(obj, cached_property):
        obj = obj.func
    return inspect.getsource(inspect.unwrap(obj))


def source_text(key: str) -> str:
    """The text a SOURCES key names: ``"module:__main__"`` or ``"module:NAME"`` (the constant's repr)."""
    module_name, sep, name = key.partition(":")
    if not sep or not name:
        raise ValueError(f"SOURCES key {key!r} must be 'module:__main__' or 'module:NAME'")
    module = importlib.import_module(module_name)
    if name == "__main__":
        source = inspect.getsource(module)
        start = source.index(MAIN_BLOCK)  # ValueError when the block is gone
        return source[start + 1 :]
    return repr(getattr(module, name))


def _parsl_version() -> str:
    import parsl

    return str(parsl.__version__)


@dataclass(frozen=True)
class UpstreamCase:
    """One check of an ``_upstream`` module: its parsl version, or one FUNCTIONS/SOURCES/ATTRIBUTES entry."""

    module: ModuleType = field(repr=False)
    kind: str  # "version", "function", "source" or "attributes"
    name: str

    def __str__(self) -> str:  # the pytest id
        return f"{self.kind}:{self.name}"

    def problems(self) -> list[str]:
        return _CHECKS[self.kind](self.module, self.name)

    def check(self) -> None:
        problems = self.problems()
        assert not problems, "\n".join(problems)


def _where(module: ModuleType, table: str) -> str:
    return f"{module.__name__}.{table}"


def _check_version(module: ModuleType, _name: str) -> list[str]:
    expected = getattr(module, "PARSL_VERSION", None)
    installed = _parsl_version()
    if installed == expected:
        return []
    return [
        f"parsl is {installed}, but {_where(module, 'PARSL_VERSION')} is {expected!r}: every entry was "
        "written against that exact version; re-check them all, then update PARSL_VERSION"
    ]


def _check_hash(
    module: ModuleType, table: str, name: str, text_of: Callable[[str], str], what: str
) -> list[str]:
    expected, why = getattr(module, table)[name]
    try:
        actual = sha256(text_of(name))
    except Exception as e:
        return [f"upstream {what} {name} is gone ({type(e).__name__}: {e}); we depend on it: {why}"]
    if actual == expected:
        return []
    return [
        f"upstream {what} {name} changed (sha256 {actual}, recorded {expected}); we depend on it: {why}. "
        f"Re-read the change, port it into our code, then update {_where(module, table)}"
    ]


def _check_function(module: ModuleType, name: str) -> list[str]:
    return _check_hash(module, "FUNCTIONS", name, function_source, "function")


def _check_source(module: ModuleType, name: str) -> list[str]:
    return _check_hash(module, "SOURCES", name, source_text, "source")


def _check_attributes(module: ModuleType, name: str) -> list[str]:
    functions: dict[str, tuple[str, str]] = module.FUNCTIONS
    if name not in functions:
        return [
            f"{_where(module, 'ATTRIBUTES')} names {name}, which {_where(module, 'FUNCTIONS')} does not list"
        ]
    why = functions[name][1]
    try:
        source = function_source(name)
    except Exception as e:
        return [f"upstream function {name} is gone ({type(e).__name__}: {e}); we depend on it: {why}"]
    missing = [attr for attr in module.ATTRIBUTES[name] if not re.search(rf"\.{re.escape(attr)}\b", source)]
    if not missing:
        return []
    return [
        f"upstream function {name} no longer mentions {', '.join('.' + a for a in missing)}, which we rely "
        f"on; we depend on it: {why}"
    ]


_CHECKS: dict[str, Callable[[ModuleType, str], list[str]]] = {
    "version": _check_version,
    "function": _check_function,
    "source": _check_source,
    "attributes": _check_attributes,
}


def upstream_test_cases(module: ModuleType) -> list[UpstreamCase]:
    """Every check of ``module``, for ``pytest.mark.parametrize("case", ..., ids=str)``."""
    cases = [UpstreamCase(module, "version", "PARSL_VERSION")]
    cases += [UpstreamCase(module, "function", name) for name in sorted(getattr(module, "FUNCTIONS", {}))]
    cases += [UpstreamCase(module, "source", name) for name in sorted(getattr(module, "SOURCES", {}))]
    cases += [UpstreamCase(module, "attributes", name) for name in sorted(getattr(module, "ATTRIBUTES", {}))]
    return cases


def stale_fingerprints(module: ModuleType) -> list[str]:
    """Every problem of ``module`` (a wrong parsl version, changed sha, missing attribute), one message each."""
    return [problem for case in upstream_test_cases(module) for problem in case.problems()]
