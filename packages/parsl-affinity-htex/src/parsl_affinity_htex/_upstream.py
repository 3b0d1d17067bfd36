"""Every upstream Parsl function, text and private attribute parsl-affinity-htex copies, overrides or relies on.

parsl is pinned exactly (``PARSL_VERSION``) because the affinity interchange, the worker pool and the executor
build on Parsl's private internals. Each entry records the sha256 of the upstream source as of that version and
why we depend on it, so a parsl upgrade that changes any of them fails a test naming the function
(``tests/parsl_affinity_htex_tests/test_upstream.py``): re-read the change, port it into our copy or override,
then update the sha here.

* ``FUNCTIONS``: dotted name -> (sha256 of ``inspect.getsource(inspect.unwrap(obj))``, why).
* ``SOURCES``: ``"module:__main__"`` (its ``if __name__ == "__main__":`` block to the end of the file) or
  ``"module:NAME"`` (``repr`` of a module constant) -> (sha256 of that text, why).
* ``ATTRIBUTES``: a FUNCTIONS name -> attributes we rely on that it sets or uses (each must appear as
  ``.<name>`` in its source).

Data only: nothing here is imported at run time.
"""

from __future__ import annotations

from typing import Final

PARSL_VERSION: Final = "2026.10.26"

_IX = "parsl.executors.high_throughput.interchange"
_HTEX = "parsl.executors.high_throughput.executor"
_POOL = "parsl.executors.high_throughput.process_worker_pool"
_OUR_IX = "parsl_affinity_htex.interchange.AffinityInterchange"
_OUR_HTEX = "parsl_affinity_htex._executor.AffinityHighThroughputExecutor"

FUNCTIONS: Final[dict[str, tuple[str, str]]] = {
    # ---- interchange -----------------------------------------------------------------------------------------
    f"{_IX}.Interchange.__init__": (
        "029917dcbbd19d157ed4da9b2d6ffe3865d6f41aab971db5fa8fe0a6416abb58",
        f"relied on: {_OUR_IX}.__init__ calls it and uses the attributes it sets; pending_task_queue is the "
        "SortedList keyed (tup[0], tup[1]) that our per-node queues reproduce",
    ),
    f"{_IX}.Interchange.start": (
        "0c24c3204a3424f7e0a12e0104639f7c63fa387bd4decda68bafe717b80a4d7a",
        "relied on: the main-loop order (process_command, process_task_incoming, process_manager_socket_message, "
        "expire_bad_managers, expire_drained_managers, then process_tasks_to_send on every pass) and it sets "
        "self.socks, which our overrides read",
    ),
    f"{_IX}.Interchange.get_tasks": (
        "6b01327a8ac153a5009f7ba41850e651a03e5dde580d753f13b78d49f7fe03f8",
        f"replaced by our per-node {_OUR_IX}._pop_for (same pop order from the queue)",
    ),
    f"{_IX}.Interchange.process_task_incoming": (
        "c4c8bc8f55996fdc3a440319d65e6a87583856e794e1ec3ea847f07f90bd20a8",
        f"overridden (replaced) by {_OUR_IX}.process_task_incoming: per-node queues, a bad priority fails the "
        "task instead of the interchange",
    ),
    f"{_IX}.Interchange.process_tasks_to_send": (
        "34c9e5dc98f0a967e62b6afe4b72328d690ffc631871125f27de4e6fbb4015c7",
        f"copied and adapted into {_OUR_IX}.process_tasks_to_send (dispatch from each manager's node queue)",
    ),
    f"{_IX}.Interchange.expire_bad_managers": (
        "54efaed2b18ebb97a624660823ac41cfe621922c44af42b2350dac926c377538",
        f"copied and adapted into {_OUR_IX}.expire_bad_managers (its expiry condition; tagged tasks of a lost "
        "manager are rescued before the rest fail with ManagerLost)",
    ),
    f"{_IX}.Interchange.expire_drained_managers": (
        "6f590af11789c0d8650facce6e05b71160e86d523a23177165a198d99f357fab",
        "relied on: pops drained managers through _ready_managers.pop (our table notices) and sets "
        "m['draining'] once drain_time passes",
    ),
    f"{_IX}.Interchange.process_command": (
        "f4150d80ca23b16368e98e8aab9619ec99f0c403cc547e2778a32f95bc028d90",
        f"wrapped by {_OUR_IX}.process_command: it answers our NODES command and replays every other request "
        "to upstream through recv_pyobj/send_pyobj of a stand-in command_channel",
    ),
    f"{_IX}.Interchange.process_manager_socket_message": (
        "f12264186ffe68e727af24b5e6661785ff8b3a6f6c344256629a55bead2596bd",
        "relied on: registration merges extra fields such as node_name and node_store into the record "
        "(new_rec.update(msg)) and stores it with `self._ready_managers[manager_id] = new_rec`; results call "
        f"`m['tasks'].remove(tid)`; wrapped by {_OUR_IX}.process_manager_socket_message, which reads the "
        "message (counting its bytes) and replays it through recv_multipart/send_multipart of a stand-in "
        "manager_sock",
    ),
    f"{_IX}.Interchange._send_monitoring_info": (
        "08da41fdf3a6096614cc8670758b07ecd5b094c88e6bb0ae8ef7833903c5c9f4",
        f"called by {_OUR_IX}.process_tasks_to_send, as in the upstream loop it copies",
    ),
    "parsl.executors.high_throughput.errors.ManagerLost": (
        "c10e420b9729c0082b015f71cc2d1d7a0f096252b81e71705db58c3c351f35a5",
        f"relied on: {_OUR_IX}.expire_bad_managers raises ManagerLost(manager_id, hostname) for the tasks it does "
        "not rescue, exactly like upstream",
    ),
    "parsl.executors.high_throughput.manager_record.ManagerRecord": (
        "3579690dd42f31ac59089944b01d38644f79caedf8623cb6815d3b23609565d4",
        "relied on: the manager record fields our interchange reads and writes (tasks, max_capacity, active, "
        "draining, last_heartbeat, idle_since, worker_count, hostname); node_name is merged in at registration",
    ),
    # ---- executor --------------------------------------------------------------------------------------------
    f"{_HTEX}.HighThroughputExecutor.__init__": (
        "58b6a39a65db7bd492bfc99d6b0038d44b85f9ccf8ab6b22a2629005937f8eaf",
        f"relied on: {_OUR_HTEX}.__init__ calls it; it sets _task_counter (used by our copied submit_payload), "
        "worker_port, encrypted, launch_cmd and interchange_launch_cmd",
    ),
    f"{_HTEX}.HighThroughputExecutor.submit": (
        "5f9830ec2ba90440ce780beca27eda2eeaaa457262431b9463afa65253378ed3",
        f"copied and adapted into {_OUR_HTEX}.submit (placement in a context key of our own, run-record task "
        "executor)",
    ),
    f"{_HTEX}.HighThroughputExecutor.submit_payload": (
        "b04167492cad4b8d5c4ce57193618cfe71c139e5bbef9b7e8c53858bd6a36542",
        f"copied into {_OUR_HTEX}.submit_payload (AffinityFuture instead of HTEXFuture)",
    ),
    f"{_HTEX}.HighThroughputExecutor.validate_resource_spec": (
        "0aa78952a8b96af282701be0a4c6e6994f6bbcfc2b66c52764932ac02d5c5b9f",
        f"overridden by {_OUR_HTEX}.validate_resource_spec (node, affinity and priority keys)",
    ),
    f"{_HTEX}.HighThroughputExecutor.start": (
        "710a244ae69295f370eec25ab35a0daad0fc0222ac0e907698abd158d2328e99",
        f"wrapped by {_OUR_HTEX}.start: it wraps the command_client upstream creates and starts our threads",
    ),
    f"{_HTEX}.HighThroughputExecutor._start_local_interchange_process": (
        "9c2d6fb8e17414f431ac6be28de1d91c87c6a252afcd6bddb53f1f18ba3dcf42",
        "relied on: pickles the interchange kwargs to the stdin of interchange_launch_cmd, which "
        "parsl_affinity_htex.interchange.main reads; sets interchange_proc, which our watchdog polls; Popens "
        "the command with this process's environment (no env=), so our default command carries the import "
        "path itself (env PYTHONPATH=..., parsl_affinity_htex._children)",
    ),
    f"{_HTEX}.HighThroughputExecutor.initialize_scaling": (
        "fc1d00d54e9b1133f7a9e1b12e629564a942889ed6e95fb2219bf53155f81cf6",
        "relied on: str.formats launch_cmd once with the executor's settings (_get_launch_command formats it "
        "again per block), so parsl_affinity_htex._executor.default_worker_launch_cmd escapes its literal "
        "text (import path, interpreter) for both passes",
    ),
    f"{_HTEX}.HighThroughputExecutor.shutdown": (
        "00a09e0bf087d54522d85d42db7cf0e29b090af8c94fc2ec34935cdfc373fb57",
        f"wrapped by {_OUR_HTEX}.shutdown: our threads stop and, if the interchange died, the pools are "
        "cancelled before it closes the sockets",
    ),
    f"{_HTEX}.HighThroughputExecutor._result_queue_worker": (
        "45e16cb00b3759542d814c9e9be80c9a03af62b470baa532acb6aa46d638da14",
        "relied on: resolves futures through Future.set_result / set_exception (AffinityFuture.set_result "
        "unwraps the RecordedResult)",
    ),
    f"{_HTEX}.HighThroughputExecutor.connected_blocks": (
        "c04e52a77b41bb1ab2c3580a381fd9ad51946254b88d2c5442d13fe30b8f9f23",
        f"wrapped by {_OUR_HTEX}.connected_blocks ([] once the interchange is lost)",
    ),
    f"{_HTEX}.HighThroughputExecutor.connected_managers": (
        "ec26218b794b3dc9d1f00a54152a5f63bda076974c121f9b3d198ae2d417d362",
        f"wrapped by {_OUR_HTEX}.connected_managers ([] once the interchange is lost)",
    ),
    f"{_HTEX}.HighThroughputExecutor.scale_in": (
        "43a9c9b1a2d7cb07393c0acc5dc8a27f0202148a514d42344e268df9a7d67a15",
        f"copied and adapted into {_OUR_HTEX}.scale_in",
    ),
    f"{_HTEX}.HighThroughputExecutor._get_launch_command": (
        "1b4f60fb6fef417b8b373957e03a43e3cbf212675156fd79fb436ee44b218517",
        "relied on: formats launch_cmd (our `python -m parsl_affinity_htex.worker_pool` command) per block",
    ),
    f"{_HTEX}.HighThroughputExecutor._hold_block": (
        "c503305ac5ab3c3457e66cb668b5658cf478b57c21ad1655ecbb7b798c241b96",
        f"called by {_OUR_HTEX}.scale_in (copied from upstream's) before a block is cancelled",
    ),
    f"{_HTEX}.HTEXFuture": (
        "718a160b46a441acd32f0abb94eb1e39a4969a59f9c7e9df289aba3c9927f333",
        "subclassed by parsl_affinity_htex._executor.AffinityFuture",
    ),
    # ---- command channel, block bookkeeping, shutdown -----------------------------------------------------------
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.__init__": (
        "c0e312e60691c03cf2cc03919cb86b5b0805286b9f63906d8f0929ba8daf0dce",
        "relied on: parsl_affinity_htex._executor._WatchedCommandClient uses the attributes it sets",
    ),
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.create_socket_and_bind": (
        "f4d39c9a7d79c6a3b2ec15185ff2df2e4b5e6f4b0b54d94a747a92f9049992f8",
        "relied on: called by CommandClient.__init__, it sets the zmq_socket (REQ) and port that "
        "parsl_affinity_htex._executor._WatchedCommandClient polls and reports",
    ),
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.run": (
        "0fce9421eac98d3012e4f5223f76d4ac4b295536fdde55d0354f8cb90e20249f",
        "copied and adapted into parsl_affinity_htex._executor._WatchedCommandClient.run (never outlives the "
        "interchange)",
    ),
    "parsl.executors.high_throughput.zmq_pipes.TasksOutgoing.__init__": (
        "e9b5cd3c3e18493bba6b7a2db5fa7386d84716e5c5227019df28ad1473dc7845",
        f"relied on: {_OUR_HTEX}.shutdown sets LINGER 0 on its zmq_socket when the interchange died",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.__init__": (
        "21b15f2fb23f654cd362d9c7895f2f734bcaea29089327109abdfc0659d43483",
        f"relied on: sets the private state {_OUR_HTEX} reads and writes (bad state, tasks, blocks_to_job_id, "
        "job_ids_to_block, _status)",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.set_bad_state_and_fail_all": (
        "386f7a644d019a6978f21ee70fafe7f030737f40591b3df0de4c51fafd22b5d4",
        f"copied and adapted into {_OUR_HTEX}.set_bad_state_and_fail_all (fails futures with the cause itself)",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor._filter_scale_in_ids": (
        "2d4bc4c687f75a8da79ab0646d05e989ee87bd497677c29b435eaf76b7487dda",
        f"called by {_OUR_HTEX}.scale_in (copied from upstream's) to keep the job ids really cancelled",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.scale_out_facade": (
        "ba722ff0b1666cc18f233ff88a09d0951ac51a1fedd26e3078adbb37e4ff2408",
        f"relied on: fills blocks_to_job_id and _status, which {_OUR_HTEX} reads to cancel the pools",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.poll_facade": (
        "b36908b1a7451c59ef894db2d73d6bd84fa17325e81b4b8c7ec3fc02fb697c0e",
        f"relied on: refreshes _status, which {_OUR_HTEX} reads to skip finished blocks",
    ),
    "parsl.jobs.job_status_poller.JobStatusPoller.close": (
        "2f3750af9142c010ce18647a91d20355a0ad7925a3baed67e54cb7ae25f19b18",
        f"relied on: skips scale-in for bad-state executors, so {_OUR_HTEX}.shutdown cancels the pools itself",
    ),
    # ---- local virtual cluster ------------------------------------------------------------------------------
    "parsl.providers.local.local.LocalProvider.submit": (
        "63a0b7a9de4e8a48e81cdff7d8e33459de6238dbc88dbd24e6595ce4a2913dd0",
        "relied on by parsl_affinity_htex._cluster.LocalVirtualClusterProvider: the job runs in its own process "
        "group and resources[job_id]['remote_pid'] is its pid (kill_node); the command runs as a line of a bash "
        "script on this machine, so a leading `env PYTHONPATH=...` (the import path) reaches the pool",
    ),
    "parsl.providers.local.local.LocalProvider.status": (
        "a2cd3ee6c4badbf381aa4ed28279253be9475b1ee97cd6267ed627b46afd496c",
        "relied on by LocalVirtualClusterProvider: the status of a node's pool decides which node a new block gets",
    ),
    "parsl.providers.local.local.LocalProvider.cancel": (
        "6003e1ecfa56b20d2bf6c075f22b99abaf79fb1ec957bfc431e455a1d7535408",
        "relied on by LocalVirtualClusterProvider: cancelling a block ends that node's pool",
    ),
    # ---- worker pool ----------------------------------------------------------------------------------------
    f"{_POOL}.Manager.__init__": (
        "591b8ed0fc692b68b98802d0606e5c9d95002aa9afbf8a764adf269d59c726ab",
        "subclassed by parsl_affinity_htex.worker_pool.NodeAwareManager (extra node_name keyword)",
    ),
    f"{_POOL}.Manager.create_reg_message": (
        "2d6a6fc9d6a83217526c8e24944a76284d38eae83ca310aa93ff8e7f4d2a967c",
        "overridden (extended) by parsl_affinity_htex.worker_pool.NodeAwareManager.create_reg_message (node_name)",
    ),
    f"{_POOL}.Manager._start_worker": (
        "7c171d62adc95c55e37edeeb97294ddd99005b627eba3c716299f368f51c668e",
        "relied on: reads the module-level process_worker_pool.args (args.logdir, args.debug), which "
        "parsl_affinity_htex.worker_pool.main sets",
    ),
    f"{_POOL}.get_arg_parser": (
        "75eabbf78261434a448207061c5856755dd662de8c4166d9ad1fcee63e342b08",
        "extended by parsl_affinity_htex.worker_pool.get_arg_parser (--node-name)",
    ),
    f"{_POOL}.worker": (
        "d0fe0db0069c3a09754a63f821325b9fd7e7a5d61bb9a2df6650e31f1caf3878",
        "relied on: exports resource_spec keys as PARSL_<KEY>, runs context['task_executor'] "
        "(parsl_affinity_htex._task.execute_with_record) and serializes what it returns with "
        "parsl.serialize.serialize (the serializer execute_with_record measures output_bytes with)",
    ),
    "parsl.executors.execute_task.execute_task": (
        "0d399e780b0231dcac1954b403b63d81e3c73e3a920b7f51b7799a65195176ea",
        "called by parsl_affinity_htex._task.execute_with_record; reproduced by "
        "parsl_affinity_htex._task._execute_fetching (the same unpack and call, node-store arguments fetched "
        "first)",
    ),
}

SOURCES: Final[dict[str, tuple[str, str]]] = {
    f"{_IX}:__main__": (
        "4774ea0689c7afc741fe45efd5e9d042632635805b457fbdb7041d71ff5d2bbb",
        "reproduced by parsl_affinity_htex.interchange.main (`python -m parsl_affinity_htex.interchange`): the "
        "constructor kwargs arrive pickled on stdin",
    ),
    f"{_IX}:PKL_SHUTDOWN_CODE": (
        "a6c31695b00448e1deba9c4e3924f86f33898c193dcd7bdd9dfc1383633581de",
        "relied on: what the interchange sends a drained manager, which the pool must recognise",
    ),
    f"{_IX}:PKL_HEARTBEAT_CODE": (
        "1a58daf1a9f2585aa63a58925bff6662477aaa4c7adb83cc84cde4e8bba148f4",
        "relied on: the interchange's heartbeat reply, which the pool must recognise",
    ),
    f"{_IX}:SortedList": (
        "4dd04b2e6278296cea4a2c1708075aca936119ad13940715a62fa9b51b25bf76",
        f"relied on: {_OUR_IX} builds its per-node queues with the interchange module's SortedList (the class of "
        "pending_task_queue)",
    ),
    f"{_IX}:ManagerLost": (
        "f0a00f00b3a594c50ea31fec9cc562632e6de73113a4483887655140e81a02ae",
        f"relied on: {_OUR_IX}.expire_bad_managers reaches ManagerLost through the interchange module",
    ),
    f"{_IX}:RemoteExceptionWrapper": (
        "3894d4b125cab5cc3d745d151368b26c97b5c057d98e4d2b81d6503f74a8cb37",
        f"relied on: {_OUR_IX}.expire_bad_managers wraps ManagerLost in it through the interchange module",
    ),
    f"{_HTEX}:DEFAULT_LAUNCH_CMD": (
        "8b23795c6211482cf6a6a6cce0bc56bba4de899825cb356396cb1ce65958cf3a",
        "copied and adapted into parsl_affinity_htex._executor.default_worker_launch_cmd (its leading "
        "'process_worker_pool.py ' becomes `python -m parsl_affinity_htex.worker_pool`)",
    ),
    f"{_POOL}:__main__": (
        "71323d245216afe339c5907403066ee6c3d61c349e22a028e30e1089dcafb947",
        "copied and adapted into parsl_affinity_htex.worker_pool.main (NodeAwareManager, our logging)",
    ),
    f"{_POOL}:HEARTBEAT_CODE": (
        "f807212b6748a8300fc3702322caa515edf0a6ed9bbc86e94c451e351b080c60",
        "relied on: must equal the interchange's PKL_HEARTBEAT_CODE",
    ),
    f"{_POOL}:SHUTDOWN_CODE": (
        "4afea50f1f5f860a1c5f8d2828253e793e7ad5860b565fa769d8d84923637093",
        "relied on: must equal the interchange's PKL_SHUTDOWN_CODE (a drained or told-to-stop pool exits)",
    ),
}

ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    f"{_IX}.Interchange.__init__": (
        "pending_task_queue",
        "command_channel",
        "results_outgoing",
        "task_incoming",
        "manager_sock",
        "_ready_managers",
        "heartbeat_threshold",
        "count",
        "run_id",
        "manager_selector",
        "worker_port",
    ),
    f"{_IX}.Interchange.start": (
        "socks",
        "process_command",
        "process_task_incoming",
        "process_manager_socket_message",
        "expire_bad_managers",
        "expire_drained_managers",
        "process_tasks_to_send",
    ),
    f"{_IX}.Interchange.expire_bad_managers": ("_ready_managers", "heartbeat_threshold", "results_outgoing"),
    f"{_IX}.Interchange.expire_drained_managers": (
        "_ready_managers",
        "manager_sock",
        "_send_monitoring_info",
    ),
    f"{_IX}.Interchange.process_command": ("socks", "command_channel", "recv_pyobj", "send_pyobj"),
    f"{_IX}.Interchange.process_manager_socket_message": (
        "_ready_managers",
        "update",
        "remove",
        "recv_multipart",
        "send_multipart",
        "socks",
    ),
    f"{_HTEX}.HighThroughputExecutor.__init__": (
        "_task_counter",
        "worker_port",
        "encrypted",
        "launch_cmd",
        "interchange_launch_cmd",
    ),
    f"{_HTEX}.HighThroughputExecutor.start": ("command_client", "outgoing_q"),
    f"{_HTEX}.HighThroughputExecutor._start_local_interchange_process": (
        "interchange_proc",
        "interchange_launch_cmd",
    ),
    f"{_HTEX}.HighThroughputExecutor.submit_payload": ("_task_counter", "tasks", "outgoing_q"),
    f"{_HTEX}.HighThroughputExecutor._result_queue_worker": ("tasks", "set_result", "set_exception"),
    f"{_HTEX}.HighThroughputExecutor.scale_in": (
        "_status",
        "connected_managers",
        "_hold_block",
        "blocks_to_job_id",
        "_filter_scale_in_ids",
        "job_ids_to_block",
    ),
    f"{_HTEX}.HighThroughputExecutor.initialize_scaling": ("launch_cmd",),
    f"{_HTEX}.HighThroughputExecutor._get_launch_command": ("launch_cmd",),
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.__init__": (
        "_lock",
        "ok",
        "port",
        "create_socket_and_bind",
    ),
    "parsl.executors.high_throughput.zmq_pipes.CommandClient.create_socket_and_bind": ("zmq_socket", "port"),
    "parsl.executors.high_throughput.zmq_pipes.TasksOutgoing.__init__": ("zmq_socket",),
    "parsl.executors.status_handling.BlockProviderExecutor.__init__": (
        "_executor_exception",
        "_executor_bad_state",
        "_tasks",
        "blocks_to_job_id",
        "job_ids_to_block",
        "_status",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.set_bad_state_and_fail_all": (
        "_executor_exception",
        "_executor_bad_state",
        "_tasks",
    ),
    "parsl.executors.status_handling.BlockProviderExecutor.scale_out_facade": ("blocks_to_job_id", "_status"),
    "parsl.executors.status_handling.BlockProviderExecutor.poll_facade": ("_status",),
    "parsl.jobs.job_status_poller.JobStatusPoller.close": ("bad_state_is_set",),
    "parsl.providers.local.local.LocalProvider.submit": ("resources",),
    "parsl.providers.local.local.LocalProvider.status": ("resources",),
    "parsl.providers.local.local.LocalProvider.cancel": ("resources",),
    f"{_POOL}.Manager._start_worker": ("logdir", "debug"),
}
