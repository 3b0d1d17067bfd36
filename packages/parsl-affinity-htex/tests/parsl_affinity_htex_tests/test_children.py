"""The processes the executor and the virtual cluster start get the caller's import path, and nobody else does.

Why it matters: under ``pants test`` / ``pants run`` (PEX venvs) first-party code is only on the caller's
``sys.path``; a ``python -m parsl_affinity_htex...`` child that is not handed that path cannot start. The
launchers carry it on the child's command line; ``os.environ`` is never touched.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from parsl.providers import LocalProvider, SlurmProvider

from parsl_affinity_htex import (
    AffinityHighThroughputExecutor,
    LocalVirtualCluster,
    LocalVirtualClusterProvider,
    child_pythonpath,
)


def test_child_pythonpath_is_the_existing_sys_path_entries_absolute_in_order_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", "second", str(tmp_path / "missing.zip"), str(first), str(second)])
    assert child_pythonpath() == os.pathsep.join([str(second), str(first)])


def _format_like_upstream(ex: AffinityHighThroughputExecutor, block_id: str) -> str:
    """What HTEx's initialize_scaling and _get_launch_command make of the launch_cmd template."""
    keys = (
        "debug max_workers_per_node prefetch_capacity address_probe_timeout_string addresses worker_port "
        "cores_per_worker mem_per_worker nodes_per_block heartbeat_period heartbeat_threshold drain_period "
        "poll_period cert_dir logdir logconf cpu_affinity enable_mpi_mode mpi_launcher accelerators"
    ).split()
    return str(ex.launch_cmd.format(**dict.fromkeys(keys, "X")).format(block_id=block_id))


def test_default_commands_carry_the_import_path_and_leave_os_environ_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "a {dir} with spaces"  # survives shell quoting and upstream's two str.format passes
    odd.mkdir()
    monkeypatch.syspath_prepend(str(odd))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    ex = AffinityHighThroughputExecutor(provider=LocalProvider(init_blocks=0))
    expected = f"PYTHONPATH={child_pythonpath()}"
    assert str(odd) in expected

    assert list(ex.interchange_launch_cmd[:3]) == ["env", expected, sys.executable]
    argv = shlex.split(_format_like_upstream(ex, "7"))
    assert argv[:5] == ["env", expected, sys.executable, "-m", "parsl_affinity_htex.worker_pool"]
    assert "--block_id=7" in argv
    assert "PYTHONPATH" not in os.environ


def test_pools_on_other_machines_and_given_commands_are_left_alone() -> None:
    remote = AffinityHighThroughputExecutor(provider=SlurmProvider())
    assert remote.launch_cmd.startswith(f"{sys.executable} -m parsl_affinity_htex.worker_pool ")
    assert remote.interchange_launch_cmd[0] == "env"  # the interchange still runs here

    given = AffinityHighThroughputExecutor(
        launch_cmd="python -m parsl_affinity_htex.worker_pool {debug}",
        interchange_launch_cmd=["python", "-m", "parsl_affinity_htex.interchange"],
    )
    assert given.launch_cmd == "python -m parsl_affinity_htex.worker_pool {debug}"
    assert list(given.interchange_launch_cmd) == ["python", "-m", "parsl_affinity_htex.interchange"]


def test_the_virtual_cluster_hands_every_pool_the_import_path_once(monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list[str] = []

    def fake_submit(self: Any, command: str, tasks_per_node: int, job_name: str = "") -> str:
        submitted.append(command)
        return str(len(submitted))

    monkeypatch.setattr(LocalProvider, "submit", fake_submit)
    monkeypatch.setattr(LocalProvider, "status", lambda self, job_ids: [None for _ in job_ids])
    provider = LocalVirtualClusterProvider({"a": 1, "b": 2})
    provider.submit("python -m parsl.executors.high_throughput.process_worker_pool --block_id=0", 1)
    default = LocalVirtualCluster({"a": 1}).executor(encrypted=False)
    provider.submit(_format_like_upstream(default, "1"), 1)

    expected = f"PYTHONPATH={child_pythonpath()}"
    for command in submitted:
        argv = shlex.split(command)
        assert argv[:3] == ["PARSL_CORES=1", "env", expected] or argv[:3] == [
            "PARSL_CORES=2",
            "env",
            expected,
        ]
        assert command.count("PYTHONPATH=") == 1


@pytest.mark.timeout(240)
def test_a_caller_whose_code_is_only_on_sys_path_runs_tasks_on_a_virtual_cluster(tmp_path: Path) -> None:
    """As under Pants: no PYTHONPATH in the environment, first-party code only on the caller's sys.path."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = {child_pythonpath().split(os.pathsep)!r}
        import parsl
        from parsl.config import Config
        from parsl_affinity_htex import LocalVirtualCluster

        def where():
            from parsl_affinity_htex import current_node
            return current_node()

        executor = LocalVirtualCluster({{"n": 1}}).executor(encrypted=False)
        dfk = parsl.load(Config(executors=[executor], run_dir={str(tmp_path)!r}, initialize_logging=False))
        try:
            print("NODE", parsl.python_app(where)().result(timeout=150))
        finally:
            dfk.cleanup()
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=220
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NODE n" in proc.stdout.splitlines(), proc.stdout[-2000:]
