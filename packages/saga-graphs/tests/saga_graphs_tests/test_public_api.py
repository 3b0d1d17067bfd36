"""The public API is exactly __all__ (nothing private leaks, nothing listed is missing)."""

import saga_graphs


def test_public_names_equal_all() -> None:
    public = {n for n in dir(saga_graphs) if not n.startswith("_")}
    assert public == set(saga_graphs.__all__)


def test_contract_names_present() -> None:
    # The names saga_dfk is written against (CONTRACTS.md).
    for name in [
        "TaskGraph", "Network", "Schedule", "Placement", "plan", "available_schedulers", "lower_bound",
        "CostModel", "UniformCostModel", "DeclaredCostModel", "LearnedCostModel", "gantt_html", "gantt_png",
        "SagaGraphsError", "GraphValidationError", "CycleError", "UnknownTaskError", "UnknownNodeError",
        "DuplicateNameError", "ReservedNameError", "InvalidCostError", "InvalidSizeError", "InvalidSpeedError",
        "InvalidBandwidthError", "EmptyNetworkError", "DisconnectedNetworkError", "UnknownSchedulerError",
        "SchedulerTimeoutError", "SchedulerFailedError", "InvalidScheduleError",
    ]:  # fmt: skip
        assert name in saga_graphs.__all__, name


def test_errors_are_value_errors_and_pickle() -> None:
    import pickle

    for name in saga_graphs.__all__:
        obj = getattr(saga_graphs, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, saga_graphs.SagaGraphsError)
            assert issubclass(obj, ValueError)
            err = pickle.loads(pickle.dumps(obj("message naming x")))
            assert type(err) is obj and str(err) == "message naming x"
