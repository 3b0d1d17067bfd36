"""The ``saga-dfk`` command: ``demo``, ``plan GRAPH.json``, ``report RUN.json``; ``--version``.

Console script and ``python -m saga_dfk`` both call :func:`main`. Errors a user can fix (bad file,
unknown scheduler, bad --nodes) print one line to stderr and exit with status 2.

Results go to stdout, diagnostics (log records of every package and Parsl) to stderr: warnings by default,
``-v`` info, ``-vv`` debug, ``-q`` errors only. Parsl's run directory still gets everything in parsl.log.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import saga_graphs

from ._config import canonical_scheduler
from ._errors import SagaDfkError
from ._report import gantt_tasks, load_report, summarize_report

__all__ = ["main", "parse_nodes", "versions"]


def parse_nodes(text: str) -> dict[str, int]:
    """``"node-a=3,node-b=2"`` -> ``{"node-a": 3, "node-b": 2}``; raises ValueError naming the bad part."""
    nodes: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, slots = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--nodes entry {part!r} is not NAME=SLOTS (e.g. node-a=3)")
        try:
            count = int(slots)
        except ValueError:
            raise ValueError(f"--nodes entry {part!r}: slots {slots!r} is not an integer") from None
        if count < 1:
            raise ValueError(f"--nodes entry {part!r}: slots must be >= 1")
        if name.strip() in nodes:
            raise ValueError(f"--nodes names {name.strip()!r} twice")
        nodes[name.strip()] = count
    if not nodes:
        raise ValueError(f"--nodes {text!r} names no node; expected e.g. node-a=3,node-b=2")
    return nodes


def _scheduler_arg(text: str) -> str | list[str]:
    """``--scheduler heft`` -> ``"HEFT"``, ``cpop,heft`` -> ``["CPOP", "HEFT"]``: any case, as SagaConfig takes."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return canonical_scheduler(names[0] if len(names) == 1 else names)


def versions() -> dict[str, str]:
    """Distribution name -> ``__version__`` of the four packages saga-dfk is made of."""
    import k8s_topology
    import parsl_affinity_htex

    from . import __version__

    return {
        "saga-dfk": __version__,
        "saga-graphs": saga_graphs.__version__,
        "parsl-affinity-htex": parsl_affinity_htex.__version__,
        "k8s-topology": k8s_topology.__version__,
    }


class _VersionAction(argparse.Action):
    """``--version``: print every package's version and exit (imports them only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        print("\n".join(f"{name} {version}" for name, version in versions().items()))
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saga-dfk", description="Plan Parsl workflows with SAGA and run every task on its planned node."
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of saga-dfk and its three packages"
    )
    _add_verbosity(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _add_verbosity(common, argparse.SUPPRESS)  # also after the subcommand (saga-dfk demo -v)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", parents=[common], help="run the built-in demo on a local virtual cluster")
    demo.add_argument(
        "--nodes", default=None, help="virtual nodes and slots, e.g. node-a=3,node-b=2,node-c=1"
    )
    demo.add_argument("--scheduler", default="HEFT", help="SAGA scheduler name, or a comma list (portfolio)")
    demo.add_argument("--report", default="saga-demo-report.json", help="run report JSON path (Gantt: .html)")
    demo.add_argument(
        "--kubeconfig",
        default=None,
        help="plan with a real Kubernetes cluster's topology (k8s-topology); pools mirror its nodes locally",
    )
    demo.add_argument("--no-stock", action="store_true", help="skip the stock-placement comparison run")

    plan = sub.add_parser(
        "plan",
        parents=[common],
        help="plan a task graph JSON (saga_graphs TaskGraph.to_dict) without running",
    )
    plan.add_argument("graph", help="task graph JSON")
    plan.add_argument("--network", default=None, help="network spec JSON (default: --nodes with free links)")
    plan.add_argument("--nodes", default="node-a=2,node-b=2,node-c=1", help="nodes when no --network")
    plan.add_argument("--scheduler", default="HEFT", help="SAGA scheduler name, or a comma list (portfolio)")
    plan.add_argument("--out", default=None, help="write the schedule JSON here")
    plan.add_argument("--gantt", default=None, help="write a Gantt HTML here")

    report = sub.add_parser(
        "report", parents=[common], help="summarize a run report and draw its Gantt chart"
    )
    report.add_argument("run", help="run report JSON written by saga-dfk")
    report.add_argument("--gantt", default=None, help="Gantt HTML path (default: RUN.html)")
    report.add_argument(
        "--force", action="store_true", help="overwrite the Gantt HTML if it exists (default: refuse)"
    )
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="log to stderr: -v info (task.assigned ...), -vv debug (default: warnings only)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if default is None else default,
        help="log only errors to stderr",
    )


def log_level(verbose: int, quiet: bool) -> int:
    """The stderr level of ``-v``/``-q``: WARNING by default, INFO, DEBUG (-vv and more), ERROR (-q)."""
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def _configure_logging(level: int) -> logging.Handler:
    """The application's logging (the libraries only add NullHandlers): one stderr handler on the root."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level:
        root.setLevel(level)
    return handler


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import DEFAULT_NODES, run_demo

    nodes = parse_nodes(args.nodes) if args.nodes else dict(DEFAULT_NODES)
    topology = None
    if args.kubeconfig:
        import k8s_topology

        topology = k8s_topology.discover(kubeconfig=args.kubeconfig)
        spec = topology.to_network_spec()
        nodes = {n["name"]: max(1, min(4, int(n.get("slots", 1)))) for n in spec["nodes"]}
        print(f"Kubernetes topology from {args.kubeconfig}: {sorted(nodes)}")
    run_demo(
        nodes=nodes,
        scheduler=_scheduler_arg(args.scheduler),
        report_path=args.report,
        topology=topology,
        stock=not args.no_stock,
    )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    data: Any = json.loads(Path(args.graph).read_text())
    graph = saga_graphs.TaskGraph.from_dict(data)
    if args.network:
        network = saga_graphs.Network.from_spec(json.loads(Path(args.network).read_text()))
    else:
        network = saga_graphs.Network(default_bandwidth=saga_graphs.DEFAULT_BANDWIDTH)
        for name, slots in parse_nodes(args.nodes).items():
            network.add_node(name, slots=slots)
    schedule = saga_graphs.plan(graph, network, _scheduler_arg(args.scheduler))
    schedule.validate(graph, network)
    print(f"{'task':>20} {'node':>10} {'slot':>4} {'start':>8} {'end':>8}")
    for p in sorted(schedule.placements.values(), key=lambda p: (p.start, p.task)):
        print(f"{p.task:>20} {p.node:>10} {p.slot:>4} {p.start:8.3f} {p.end:8.3f}")
    print(
        f"scheduler: {schedule.scheduler}  makespan: {schedule.makespan:.3f} s  tasks: {len(schedule.placements)}"
    )
    if schedule.portfolio:
        print(f"portfolio: {dict(schedule.portfolio)}")
    if args.out:
        Path(args.out).write_text(schedule.to_json(indent=2))
        print(f"schedule: {args.out}")
    if args.gantt:
        saga_graphs.gantt_html(schedule, args.gantt)
        print(f"gantt: {args.gantt}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ._demo import schedule_from_report

    report = load_report(args.run)
    gantt = Path(args.gantt) if args.gantt else Path(args.run).with_suffix(".html")
    if gantt.exists() and not args.force:  # e.g. the demo's own chart of this run: never clobber it silently
        raise FileExistsError(
            f"{gantt} exists (the demo writes RUN.html too); pass --force to overwrite it or --gantt NEW.html"
        )
    print(summarize_report(report))
    schedule, actual = schedule_from_report(report)
    saga_graphs.gantt_html(schedule, gantt, actual=actual, tasks=gantt_tasks(report))
    print(f"gantt: {gantt}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``saga-dfk`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    handlers = {"demo": _cmd_demo, "plan": _cmd_plan, "report": _cmd_report}
    stderr_log = _configure_logging(log_level(args.verbose, args.quiet))
    try:
        return handlers[args.command](args)
    except (OSError, ValueError, SagaDfkError) as exc:
        # saga_graphs errors are ValueErrors: unknown scheduler, cycles, bad costs ...
        print(f"saga-dfk {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        logging.getLogger().removeHandler(stderr_log)  # main() may run in-process (tests, notebooks)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
