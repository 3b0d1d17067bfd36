"""The public API is exactly __all__ (upstream Parsl is checked in test_upstream.py)."""

from __future__ import annotations

import saga_dfk


def test_public_api_is_all() -> None:
    public = {name for name in dir(saga_dfk) if not name.startswith("_")}
    assert public == set(saga_dfk.__all__)
    assert sorted(saga_dfk.__all__) == saga_dfk.__all__
