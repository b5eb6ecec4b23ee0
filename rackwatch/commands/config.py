"""`rackwatch config check|reference`: the configuration in effect, and every key."""

from __future__ import annotations

import argparse
import json
import sys

from common.config import Config, effective
from common.configdoc import reference

__all__ = ["register"]


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list) and any(isinstance(x, dict) for x in v):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"  # [[tables]], inline
    return json.dumps(v)


def _check(args: argparse.Namespace, cfg: Config) -> int:
    """The configuration loaded (problems would have exited with 2 before this runs);
    printed as TOML with secrets masked. Settings checked together (the correlator's
    windows, its call graph file) are checked here too, and so is the routing tree it
    names: a bad tree exits 2 with every problem listed."""
    from rackwatch.commands.streams import correlator_settings
    from streams.handling import routing_of
    from streams.rules.model import RuleError

    correlator_settings(cfg)
    try:
        routing_of(cfg)
    except RuleError as e:
        print(e, file=sys.stderr)
        return 2
    for section, values in effective(cfg).items():
        if section:
            print(f"\n[{section}]")
        for k, v in values.items():
            print(f"{k} = {_toml_value(v)}")
    print("\nconfiguration OK", file=sys.stderr)
    return 0


def _reference(args: argparse.Namespace, cfg: Config) -> int:
    sys.stdout.write(reference())
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("config", help="check the configuration in effect; list every key",
                       description="Configuration: a TOML file (-c, $RACKWATCH_CONFIG or "
                                   "$RACKWATCH_HOME/rackwatch.toml), --set overrides, then "
                                   "the environment. Problems exit with status 2.")
    csub = c.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    check = csub.add_parser("check", help="print the effective configuration, secrets masked")
    check.set_defaults(func=_check)
    ref = csub.add_parser("reference", help="every key, its default, range and meaning")
    ref.set_defaults(func=_reference)
