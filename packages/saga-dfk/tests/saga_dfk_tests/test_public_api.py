"""The public API is exactly __all__, and upstream Parsl is the version saga-dfk was written against."""

from __future__ import annotations

import saga_dfk
from saga_dfk import _upstream


def test_public_api_is_all() -> None:
    public = {name for name in dir(saga_dfk) if not name.startswith("_")}
    assert public == set(saga_dfk.__all__)
    assert sorted(saga_dfk.__all__) == saga_dfk.__all__


def test_upstream_parsl_functions_unchanged() -> None:
    """Every upstream function saga-dfk overrides, copies or relies on has the recorded source."""
    import parsl

    assert parsl.__version__ == _upstream.PARSL_VERSION
    assert _upstream.check_upstream() == []
    assert set(_upstream.UPSTREAM_FINGERPRINTS) == set(_upstream.upstream_functions())


def test_fingerprint_detects_a_change() -> None:
    def f() -> int:
        return 1

    def g() -> int:
        return 2

    assert _upstream.fingerprint(f) != _upstream.fingerprint(g)
