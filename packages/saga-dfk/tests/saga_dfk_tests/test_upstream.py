"""The upstream Parsl code listed in saga_dfk._upstream is the code we were written against."""

from __future__ import annotations

import pytest

from repo_support.upstream import UpstreamCase, upstream_test_cases
from saga_dfk import _upstream


@pytest.mark.parametrize("case", upstream_test_cases(_upstream), ids=str)
def test_upstream_unchanged(case: UpstreamCase) -> None:
    case.check()


def test_runtime_check_agrees() -> None:
    """saga_dfk.load() warns from check_upstream(), which hashes without repo_support."""
    assert _upstream.check_upstream() == []


def test_runtime_check_reports_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "parsl.dataflow.dflow.DataFlowKernel.submit"
    monkeypatch.setitem(_upstream.FUNCTIONS, name, ("0" * 64, "relied on"))
    assert _upstream.check_upstream() == [name]
