"""The upstream Parsl code listed in parsl_affinity_htex._upstream is the code we were written against."""

from __future__ import annotations

import types

import pytest

from parsl_affinity_htex import _upstream
from repo_support.upstream import UpstreamCase, stale_fingerprints, upstream_test_cases


@pytest.mark.parametrize("case", upstream_test_cases(_upstream), ids=str)
def test_upstream_unchanged(case: UpstreamCase) -> None:
    case.check()


def test_checker_reports_a_changed_sha_a_missing_attribute_and_a_wrong_version() -> None:
    """The shared checker itself: a fake list with one wrong entry of each kind."""
    name = "parsl.executors.high_throughput.zmq_pipes.CommandClient.run"
    fake = types.ModuleType("fake_upstream")
    vars(fake).update(
        PARSL_VERSION="1999.01.01",
        FUNCTIONS={name: ("0" * 64, "copied and adapted into a fake")},
        SOURCES={},
        ATTRIBUTES={name: ("_lock", "_no_such_attribute")},
    )
    problems = stale_fingerprints(fake)
    assert len(problems) == 3, problems
    version, sha, attribute = problems
    assert "1999.01.01" in version and "fake_upstream.PARSL_VERSION" in version
    assert sha.startswith(f"upstream function {name} changed") and "copied and adapted into a fake" in sha
    assert f"{name} no longer mentions ._no_such_attribute" in attribute and "._lock" not in attribute
    with pytest.raises(AssertionError, match="CommandClient.run changed"):
        UpstreamCase(fake, "function", name).check()
