"""Schedule: the independent validity check, lossless JSON, the lower bound."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saga_graphs as sg

from .conftest import diamond


def _net() -> sg.Network:
    net = sg.Network(default_bandwidth=10.0)
    net.add_node("a", slots=2)
    net.add_node("b", speed=2.0)
    return net


def _good() -> dict[str, sg.Placement]:
    # diamond with 20-byte transfers: 2 s between a and b.
    return {
        "t1": sg.Placement("t1", "a", 0, 0.0, 0.5),
        "t2": sg.Placement("t2", "a", 0, 0.5, 2.5),
        "t3": sg.Placement("t3", "a", 1, 0.5, 1.5),
        "t4": sg.Placement("t4", "b", 0, 4.5, 4.75),
    }


def test_good_schedule_passes() -> None:
    s = sg.Schedule(_good(), "hand")
    s.validate(diamond(20.0), _net())
    assert s.makespan == 4.75


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"t4": None}, r"1 task\(s\) not placed, e.g. \['t4'\]"),
        ({"t9": sg.Placement("t9", "a", 0, 9.0, 10.0)}, r"not in the task graph: \['t9'\]"),
        ({"t4": sg.Placement("t4", "zz", 0, 4.5, 5.0)}, "task 't4' is placed on unknown node 'zz'"),
        ({"t4": sg.Placement("t4", "b", 1, 4.5, 4.75)}, "slot 1 of node 'b', which has 1 slot"),
        (
            {"t4": sg.Placement("t4", "b", 0, 4.5, 5.0)},
            "task 't4' on node 'b' lasts 0.5 s but cost 0.5 / speed 2.0",
        ),
        ({"t3": sg.Placement("t3", "a", 0, 1.0, 2.0)}, "overlap on node 'a' slot 0"),
        (
            {"t4": sg.Placement("t4", "b", 0, 4.0, 4.25)},
            "task 't4' starts at 4.0 on 'b' before its input from 't2'",
        ),
        (
            {"t4": sg.Placement("t4", "a", 1, 2.0, 2.5)},
            "task 't4' starts at 2.0 on 'a' before its input from 't2'",
        ),
        ({"t4": sg.Placement("t4", "b", 0, math.inf, math.inf)}, "non-finite time"),
    ],
)
def test_each_violation_is_named(change: dict[str, sg.Placement | None], message: str) -> None:
    placements = _good()
    for t, p in change.items():
        if p is None:
            del placements[t]
        else:
            placements[t] = p
    with pytest.raises(sg.errors.InvalidScheduleError, match=message):
        sg.Schedule(placements).validate(diamond(20.0), _net())


def test_same_node_transfers_are_free() -> None:
    placements = _good()
    placements["t4"] = sg.Placement("t4", "a", 0, 2.5, 3.0)  # t3 on another slot of the same node
    sg.Schedule(placements).validate(diamond(1e12), _net())


def test_mismatched_key_and_duplicate_task() -> None:
    with pytest.raises(sg.errors.InvalidScheduleError, match="placement keyed 'x' is for task 't1'"):
        sg.Schedule({"x": sg.Placement("t1", "a", 0, 0.0, 1.0)})
    p = sg.Placement("t1", "a", 0, 0.0, 1.0)
    with pytest.raises(sg.errors.InvalidScheduleError, match="task 't1' is placed twice"):
        sg.Schedule.from_placements([p, p])


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.text(min_size=1, max_size=5),
            st.integers(0, 64),
            finite,
            finite,
        ),
        max_size=12,
        unique_by=lambda x: x[0],
    ),
    st.dictionaries(st.text(max_size=6), st.one_of(finite, st.text(max_size=20)), max_size=4),
)
def test_json_round_trip_is_lossless(
    rows: list[tuple[str, str, int, float, float]], portfolio: dict[str, float | str]
) -> None:
    s = sg.Schedule.from_placements([sg.Placement(*r) for r in rows], scheduler="X", portfolio=portfolio)
    back = sg.Schedule.from_json(s.to_json())
    assert back == s
    assert list(back.placements) == list(s.placements)
    for t, p in s.placements.items():  # bit-exact floats, including -0.0 and subnormals
        assert math.copysign(1, back.placements[t].start) == math.copysign(1, p.start)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "does not parse"), ('{"format": "other"}', "not a saga-graphs schedule"),
     ('{"format": "saga-graphs.schedule/1", "placements": [{"task": "a"}]}', "malformed placement")],
)  # fmt: skip
def test_bad_json(text: str, message: str) -> None:
    with pytest.raises(sg.errors.InvalidScheduleError, match=message):
        sg.Schedule.from_json(text)


def test_lower_bound_terms() -> None:
    tg = diamond()
    net = sg.Network(default_bandwidth=1.0)
    net.add_node("a", speed=1.0)
    net.add_node("b", speed=2.0)
    # critical path t1, t2, t4 = 3.0 s on the fastest (2x) slot -> 1.5; work 4.0 / speed 3 -> 1.333
    assert sg.lower_bound(tg, net) == pytest.approx(1.5)
    wide = sg.TaskGraph()
    for i in range(12):
        wide.add_task(f"w{i}", 1.0)
    assert sg.lower_bound(wide, net) == pytest.approx(12 / 3)
    assert sg.lower_bound(sg.TaskGraph(), net) == 0.0


def test_schedule_pickles() -> None:
    import pickle

    s = sg.Schedule(_good(), "HEFT", {"HEFT": 4.75, "FCP": "SchedulerTimeoutError: ..."})
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.portfolio["FCP"].startswith("SchedulerTimeoutError")
