"""Node-aware HTEx worker pool: ``python -m parsl_affinity_htex.worker_pool [upstream args] --node-name X``.

It is upstream's ``process_worker_pool`` with two additions: the pool learns its node name (``--node-name``,
else ``PARSL_NODE_NAME``, else -- inside Kubernetes only -- ``NODE_NAME`` from the downward API, else the
hostname), sends it to the interchange in the registration message (upstream merges unknown registration fields
into its manager record, where the affinity interchange reads ``node_name``), and exports it to its workers so
``current_node()`` works. It is launched with ``python -m`` so editable installs and wheels without console
scripts on PATH work. The naming rule (``resolve_node_name``) lives in ``_node_name``, so the executor can
predict a local pool's name without importing this entry point.

The data plane's node store: ``--node-store HOST:PORT`` (or ``$PARSL_NODE_STORE``) names a running one (a
Kubernetes sidecar: HOST is the pod's IP, which other nodes connect to), waited for up to a minute;
``--start-node-store HOST`` starts a ``redis-server`` bound to
HOST on a free port for the pool's lifetime (in its process group, so it dies with the node). Either way the
address goes to the workers (``STORE_ENV_VAR``) and into the registration message (``node_store``).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import pickle
import sys
from collections.abc import Sequence
from typing import Any

from parsl.executors.high_throughput import process_worker_pool as _upstream
from parsl.log_utils import set_file_logger
from parsl.logconfigs.base import oneshot_initialize_logging

from parsl_affinity_htex._log import kv
from parsl_affinity_htex._logging import configure_child_logging
from parsl_affinity_htex._node_name import resolve_node_name
from parsl_affinity_htex._node_store import (
    NODE_STORE_VARIABLE,
    STORE_ENV_VAR,
    NodeStoreServer,
    parse_store_address,
    wait_for_store,
)
from parsl_affinity_htex._task import NODE_ENV_VAR

__all__ = ["NodeAwareManager", "get_arg_parser", "main", "resolve_node_name"]

log = logging.getLogger("parsl_affinity_htex.worker_pool")  # not __name__: this runs as __main__ (python -m)

#: Registration-message field carrying the node name (read by the affinity interchange).
REGISTRATION_NODE_FIELD = "node_name"
#: Registration-message field carrying the node store's ``host:port`` (absent without a data plane).
REGISTRATION_STORE_FIELD = "node_store"
#: How long a pool waits for a node store it was given (a sidecar starting beside it) to answer.
STORE_WAIT_S = 60.0


class NodeAwareManager(_upstream.Manager):
    """Upstream's Manager, registering with its node name (and its node store's address, if any)."""

    def __init__(self, *, node_name: str, node_store: str | None = None, **kwargs: Any) -> None:
        self.node_name = node_name
        self.node_store = node_store
        super().__init__(**kwargs)

    def create_reg_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = super().create_reg_message()
        msg[REGISTRATION_NODE_FIELD] = self.node_name
        if self.node_store:
            msg[REGISTRATION_STORE_FIELD] = self.node_store
        return msg


def get_arg_parser() -> argparse.ArgumentParser:
    """Upstream's argument parser plus ``--node-name``."""
    parser = _upstream.get_arg_parser()
    parser.add_argument(
        "--node-name",
        default=None,
        help="Node this pool runs on (default: $PARSL_NODE_NAME, else $NODE_NAME inside Kubernetes, else the hostname)",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--node-store",
        default=None,
        metavar="HOST:PORT",
        help="the node store (redis-server) of this node, reachable from other nodes at HOST:PORT",
    )
    store.add_argument(
        "--start-node-store",
        default=None,
        metavar="HOST",
        help="start a node store (redis-server) bound to HOST for this pool's lifetime",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and run the pool until the interchange tells it to stop (or goes away)."""
    parser = get_arg_parser()
    args = parser.parse_args(argv)
    node_name = resolve_node_name(args.node_name)
    # Workers are spawned processes: they inherit this environment, which is how current_node() learns the node.
    os.environ[NODE_ENV_VAR] = node_name
    server = NodeStoreServer(args.start_node_store) if args.start_node_store else None
    node_store = (
        server.address if server is not None else (args.node_store or os.environ.get(NODE_STORE_VARIABLE))
    )
    if node_store:
        parse_store_address(node_store)
        if server is None:
            wait_for_store(node_store, STORE_WAIT_S)
        os.environ[STORE_ENV_VAR] = node_store
    try:
        _run(args, node_name, node_store)
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, node_name: str, node_store: str | None) -> None:
    # Upstream's Manager._start_worker reads the module-level ``args`` of process_worker_pool (set only by its
    # own __main__ block), so hand it ours.
    _upstream.args = args  # type: ignore[attr-defined]

    # ---- BEGIN copied from parsl 2026.10.26 process_worker_pool.py `if __name__ == "__main__":` block ----
    # (listed in _upstream.py; changes: Manager -> NodeAwareManager(node_name=...), prints/log text)
    if args.logconf is None or args.logconf == "None":
        os.makedirs(os.path.join(args.logdir, f"block-{args.block_id}", args.uid), exist_ok=True)
        set_file_logger(
            f"{args.logdir}/block-{args.block_id}/{args.uid}/manager.log",
            level=logging.DEBUG if args.debug is True else logging.INFO,
        )
        logconf = None
    else:
        with open(args.logconf, "rb") as f:
            path = os.path.join(args.logdir, f"block-{args.block_id}", args.uid)
            logconf = pickle.load(f)
            oneshot_initialize_logging(log_config=logconf, log_dir=pathlib.Path(path), log_name="manager")
    configure_child_logging(
        os.path.join(args.logdir, f"block-{args.block_id}", args.uid, "affinity_pool.log")
    )
    log.info(
        "pool.starting %s",
        kv(
            node=node_name,
            uid=args.uid,
            block_id=args.block_id,
            node_store=node_store,
            max_workers_per_node=args.max_workers_per_node,
            python=sys.version.split()[0],
        ),
    )
    try:
        manager = NodeAwareManager(
            node_name=node_name,
            node_store=node_store,
            port=args.port,
            addresses=args.addresses,
            address_probe_timeout=int(args.address_probe_timeout),
            uid=args.uid,
            block_id=args.block_id,
            cores_per_worker=float(args.cores_per_worker),
            mem_per_worker=None if args.mem_per_worker == "None" else float(args.mem_per_worker),
            max_workers_per_node=(
                args.max_workers_per_node
                if args.max_workers_per_node == float("inf")
                else int(args.max_workers_per_node)
            ),
            prefetch_capacity=int(args.prefetch_capacity),
            heartbeat_threshold=int(args.hb_threshold),
            heartbeat_period=int(args.hb_period),
            drain_period=None if args.drain_period == "None" else int(args.drain_period),
            poll_period=int(args.poll),
            cpu_affinity=args.cpu_affinity,
            enable_mpi_mode=args.enable_mpi_mode,
            mpi_launcher=args.mpi_launcher,
            available_accelerators=args.available_accelerators,
            cert_dir=None if args.cert_dir == "None" else args.cert_dir,
            log_config=logconf,
        )
        manager.start()
    except Exception:
        log.exception("pool.failed %s", kv(node=node_name, uid=args.uid))
        raise
    else:
        log.info("pool.exited %s", kv(node=node_name, uid=args.uid))
    # ---- END copied block ----


if __name__ == "__main__":
    main()
