"""Fingerprints of every upstream Parsl function this package overrides, wraps, copies or relies on.

parsl is pinned exactly (2026.10.26) because the affinity interchange and worker pool build on its private
internals. If a parsl upgrade changes any of these functions, this test fails loudly and names it: re-read the
upstream change, port it into the fenced copy (or the override) and update the hash here.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

import parsl
import pytest
from parsl.executors.high_throughput import executor as upstream_executor
from parsl.executors.high_throughput import process_worker_pool

PARSL_VERSION = "2026.10.26"

FINGERPRINTS: dict[str, tuple[str, str]] = {
    "parsl.executors.high_throughput.interchange.Interchange.__init__": (
        "029917dcbbd19d157ed4da9b2d6ffe3865d6f41aab971db5fa8fe0a6416abb58",
        "attributes we use: pending_task_queue, socks, command_channel, results_outgoing, _ready_managers",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.start": (
        "0c24c3204a3424f7e0a12e0104639f7c63fa387bd4decda68bafe717b80a4d7a",
        "main loop order: commands, incoming, managers, expiry, then process_tasks_to_send each pass",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.process_task_incoming": (
        "c4c8bc8f55996fdc3a440319d65e6a87583856e794e1ec3ea847f07f90bd20a8",
        "replaced (per-node queues, priority check)",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.process_tasks_to_send": (
        "34c9e5dc98f0a967e62b6afe4b72328d690ffc631871125f27de4e6fbb4015c7",
        "copied and adapted (dispatch per node)",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.expire_bad_managers": (
        "54efaed2b18ebb97a624660823ac41cfe621922c44af42b2350dac926c377538",
        "wrapped: we replicate its expiry condition to rescue tasks first",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.process_command": (
        "f4150d80ca23b16368e98e8aab9619ec99f0c403cc547e2778a32f95bc028d90",
        "wrapped: fed a replayed request through recv_pyobj/send_pyobj",
    ),
    "parsl.executors.high_throughput.interchange.Interchange.process_manager_socket_message": (
        "f12264186ffe68e727af24b5e6661785ff8b3a6f6c344256629a55bead2596bd",
        "registration merges node_name into the manager record",
    ),
    "parsl.executors.high_throughput.process_worker_pool.Manager.__init__": (
        "591b8ed0fc692b68b98802d0606e5c9d95002aa9afbf8a764adf269d59c726ab",
        "subclassed with an extra keyword",
    ),
    "parsl.executors.high_throughput.process_worker_pool.Manager.create_reg_message": (
        "2d6a6fc9d6a83217526c8e24944a76284d38eae83ca310aa93ff8e7f4d2a967c",
        "extended with node_name",
    ),
    "parsl.executors.high_throughput.process_worker_pool.Manager._start_worker": (
        "7c171d62adc95c55e37edeeb97294ddd99005b627eba3c716299f368f51c668e",
        "reads process_worker_pool.args, which our main sets",
    ),
    "parsl.executors.high_throughput.process_worker_pool.get_arg_parser": (
        "75eabbf78261434a448207061c5856755dd662de8c4166d9ad1fcee63e342b08",
        "extended with --node-name",
    ),
    "parsl.executors.high_throughput.process_worker_pool.worker": (
        "d0fe0db0069c3a09754a63f821325b9fd7e7a5d61bb9a2df6650e31f1caf3878",
        "exports resource_spec keys as PARSL_<KEY>; calls context['task_executor']",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.submit": (
        "5f9830ec2ba90440ce780beca27eda2eeaaa457262431b9463afa65253378ed3",
        "copied and adapted (context keys)",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.submit_payload": (
        "b04167492cad4b8d5c4ce57193618cfe71c139e5bbef9b7e8c53858bd6a36542",
        "copied (AffinityFuture)",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.validate_resource_spec": (
        "0aa78952a8b96af282701be0a4c6e6994f6bbcfc2b66c52764932ac02d5c5b9f",
        "overridden",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.start": (
        "710a244ae69295f370eec25ab35a0daad0fc0222ac0e907698abd158d2328e99",
        "wrapped: command_client replaced after it returns",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.shutdown": (
        "00a09e0bf087d54522d85d42db7cf0e29b090af8c94fc2ec34935cdfc373fb57",
        "wrapped: linger/cancel before it when the interchange died",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor._result_queue_worker": (
        "45e16cb00b3759542d814c9e9be80c9a03af62b470baa532acb6aa46d638da14",
        "sets results through Future.set_result (AffinityFuture unwraps)",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.connected_blocks": (
        "c04e52a77b41bb1ab2c3580a381fd9ad51946254b88d2c5442d13fe30b8f9f23",
        "wrapped",
    ),
    "parsl.executors.high_throughput.executor.HighThroughputExecutor.connected_managers": (
        "ec26218b794b3dc9d1f00a54152a5f63bda076974c121f9b3d198ae2d417d362",
        "wrapped",
    ),
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.run": (
        "0fce9421eac98d3012e4f5223f76d4ac4b295536fdde55d0354f8cb90e20249f",
        "re-implemented with liveness checks (_WatchedCommandClient)",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.set_bad_state_and_fail_all": (
        "386f7a644d019a6978f21ee70fafe7f030737f40591b3df0de4c51fafd22b5d4",
        "copied and adapted",
    ),
    "parsl.jobs.job_status_poller.JobStatusPoller.close": (
        "2f3750af9142c010ce18647a91d20355a0ad7925a3baed67e54cb7ae25f19b18",
        "skips scale-in for bad-state executors, so we cancel pools ourselves",
    ),
    "parsl.providers.local.local.LocalProvider.submit": (
        "63a0b7a9de4e8a48e81cdff7d8e33459de6238dbc88dbd24e6595ce4a2913dd0",
        "virtual cluster: job id is the pid in its own process group",
    ),
    "parsl.executors.execute_task.execute_task": (
        "0d399e780b0231dcac1954b403b63d81e3c73e3a920b7f51b7799a65195176ea",
        "called by execute_with_record",
    ),
}

#: process_worker_pool's ``if __name__ == "__main__":`` block, copied into worker_pool.main().
POOL_MAIN_BLOCK_SHA256 = "0c4b5292eb52de1b7a5d4f7afc68273c7db390b3c7eb38f1d6660fcbaae5e9b6"
#: HTEx's DEFAULT_LAUNCH_CMD, whose script name we replace with ``python -m parsl_affinity_htex.worker_pool``.
DEFAULT_LAUNCH_CMD_SHA256 = "dd25c1a5d700f6f3d04759d3082e5485b210b106c2bc86fb014c738250c773e8"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_parsl_is_the_pinned_version() -> None:
    assert parsl.__version__ == PARSL_VERSION


@pytest.mark.parametrize("dotted", sorted(FINGERPRINTS))
def test_upstream_function_unchanged(dotted: str) -> None:
    expected, why = FINGERPRINTS[dotted]
    actual = sha256(inspect.getsource(resolve(dotted)))
    assert actual == expected, f"upstream {dotted} changed ({why}); review it and update the fingerprint"


def test_worker_pool_main_block_unchanged() -> None:
    source = inspect.getsource(process_worker_pool)
    block = source[source.index('\nif __name__ == "__main__":') :]
    assert sha256(block) == POOL_MAIN_BLOCK_SHA256, "process_worker_pool's __main__ block changed; port it"


def test_default_launch_cmd_unchanged() -> None:
    assert sha256(upstream_executor.DEFAULT_LAUNCH_CMD) == DEFAULT_LAUNCH_CMD_SHA256
