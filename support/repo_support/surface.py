"""Public-surface checks shared by the packages' ``test_public_api.py``: one errors namespace per package."""

from __future__ import annotations

import pickle
from collections.abc import Collection
from types import ModuleType

__all__ = ["assert_errors_namespace", "assert_errors_pickle_under_one_base"]


def assert_errors_namespace(package: ModuleType, errors: ModuleType, expected: Collection[str]) -> None:
    """``errors``' public names are exactly its ``__all__``, which is ``expected``; it is ``package.errors``;
    and none of its names is also a top-level name of ``package`` (one place for the typed errors)."""
    public = {name for name in dir(errors) if not name.startswith("_")}
    assert public == set(errors.__all__) == set(expected)
    assert getattr(package, "errors", None) is errors
    assert set(errors.__all__).isdisjoint(vars(package)), "errors live under <package>.errors only"


def assert_errors_pickle_under_one_base(errors: ModuleType, base: type[Exception]) -> None:
    """Every name in ``errors.__all__`` is a subclass of ``base`` whose instance, made from a message alone,
    survives pickling (errors reach task futures and cross Parsl's process boundaries)."""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, base), name
        err = pickle.loads(pickle.dumps(cls("message naming x")))
        assert type(err) is cls and str(err) == "message naming x", name
