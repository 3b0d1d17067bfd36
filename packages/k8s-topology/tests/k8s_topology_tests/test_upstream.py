"""The upstream Parsl / kubernetes code listed in k8s_topology._upstream is the code we were written against."""

from __future__ import annotations

import pytest

from k8s_topology import _upstream
from repo_support.upstream import UpstreamCase, upstream_test_cases


@pytest.mark.parametrize("case", upstream_test_cases(_upstream), ids=str)
def test_upstream_unchanged(case: UpstreamCase) -> None:
    case.check()
