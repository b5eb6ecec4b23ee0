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
    default = rsub.add_parser("default", help="print the shipped default rule file",
                              description="Print the default rule set, a starting point "
                                          "for your own file.")
    default.set_defaults(func=default_command)


def check_command(args: argparse.Namespace, cfg: Config) -> int:
    files = [Path(f) for f in args.files] or [
        Path(cfg.worker.rules) if cfg.worker.rules else DEFAULT_RULES_PATH]
    status = 0
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


def default_command(args: argparse.Namespace, cfg: Config) -> int:
    sys.stdout.write(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return 0
