"""`rackwatch rules ...`: check rule files before a worker ever sees them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.config import Config
from streams.rules import DEFAULT_RULES_PATH
from streams.rules.lint import unknown_metrics
from streams.rules.model import RuleError
from streams.rules.parse import load_rules

__all__ = ["check_command", "default_command", "register"]



def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `rules check FILE...` and `rules default` to the top-level sub-commands."""
    rules = sub.add_parser("rules", help="validate and show alert rule files",
                           description="Work with alert rule files (see docs/rules.md).")
    rsub = rules.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check = rsub.add_parser(
        "check", help="validate rule files and list every problem",
        description="Validate rule files; print every problem as FILE:LINE: WHERE: WHAT "
                    "and exit 1 if any file is invalid.")
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="rule files (default: [worker].rules, else the shipped rules)")
    check.add_argument("--strict", action="store_true",
                       help="metrics outside the catalogue are errors, not warnings")
    check.set_defaults(func=check_command)
    routes = rsub.add_parser(
        "routes", help="validate the routing tree, show it, or route a set of labels",
        description="Validate a routing tree (default: [routing] file, else the shipped "
                    "one) and print its routes; with --test, print the owner and priority "
                    "an alert with those labels gets (like amtool config routes test).")
    routes.add_argument("file", nargs="?", help="routing file (default: [routing] file)")
    routes.add_argument("--test", metavar="LABELS", default=None,
                        help='labels of an alert, e.g. \'severity=critical,rack="r07"\'')
    routes.set_defaults(func=routes_command)
    default = rsub.add_parser("default", help="print the shipped default rule file",
                              description="Print the default rule set, a starting point "
                                          "for your own file.")
    default.set_defaults(func=default_command)


def check_command(args: argparse.Namespace, cfg: Config) -> int:
    files = [Path(f) for f in args.files] or [
        Path(cfg.worker.rules) if cfg.worker.rules else DEFAULT_RULES_PATH]
    status = 0
    if not args.files:
        status = _check_routing(cfg)
    for path in files:
        try:
            rs = load_rules(path)
        except RuleError as e:
            status = 1
            for problem in e.problems:
                print(problem, file=sys.stderr)
            print(f"{path}: INVALID: {len(e.problems)} problem(s)", file=sys.stderr)
            continue
        unknown = unknown_metrics(rs)
        for line in unknown:
            print(("error: " if args.strict else "warning: ") + line, file=sys.stderr)
        if unknown and args.strict:
            status = 1
            print(f"{path}: INVALID (--strict): {len(unknown)} unknown metric(s)",
                  file=sys.stderr)
            continue
        print(f"{path}: OK: {len(rs.groups)} group(s), {len(rs.rules)} rule(s), "
              f"{len(rs.inhibit_rules)} inhibit rule(s)"
              + (f", {len(unknown)} warning(s)" if unknown else ""))
    return status


def _check_routing(cfg: Config, file: str | None = None) -> int:
    """The routing tree in effect (or `file`) checked; its problems printed; 0 when valid."""
    from streams.handling.routing import DEFAULT_ROUTES_PATH, load_routing

    path = file or cfg.routing.file or str(DEFAULT_ROUTES_PATH)
    try:
        tree = load_routing(path)
    except RuleError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: INVALID: {len(e.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{path}: OK: routing tree of {len(tree.walk())} route(s)")
    return 0


def routes_command(args: argparse.Namespace, cfg: Config) -> int:
    """`rules routes`: validate and print the tree, or route one set of labels."""
    from streams.handling.routing import DEFAULT_ROUTES_PATH, load_routing
    from streams.rules.matchers import parse_matchers

    status = _check_routing(cfg, args.file)
    if status:
        return status
    tree = load_routing(args.file or cfg.routing.file or str(DEFAULT_ROUTES_PATH))
    if args.test is None:
        for r in tree.walk():
            depth = r.name.count("/") if r.name.startswith("root") else 1
            match = ", ".join(str(m) for m in r.matchers) or "(every alert)"
            print(f"{'  ' * depth}{r.name}: {match} -> {r.assignee} {r.priority}, "
                  f"ack within {r.ack_timeout_ms // 1000}s, again every "
                  f"{r.repeat_interval_ms // 1000}s" + (", continue" if r.cont else ""))
        return 0
    try:
        labels = {m.label: m.value for m in parse_matchers(args.test)}
        labels.setdefault("rule", labels.get("alertname", ""))
    except ValueError as e:
        print(f"--test: {e}", file=sys.stderr)
        return 2
    for routed in tree.routes_for(labels):
        print(f"{routed.assignee} {routed.priority} (route {routed.route.name}, group "
              f"{routed.group or '-'})")
    return 0


def default_command(args: argparse.Namespace, cfg: Config) -> int:
    sys.stdout.write(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return 0
