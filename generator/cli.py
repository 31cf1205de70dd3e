"""Command line: ``python -m generator [--spec PATH]... [--out DIR] [--check] [--force]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from generator.config import PROJECT_ROOT, Options
from generator.errors import GenerationFailed
from generator.pipeline import Result, StaleOutput, run

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Generate models, backend protocols, Starlette routes, a typed client and "
        "operation metadata from OpenAPI specs.",
    )
    parser.add_argument(
        "--spec", action="append", type=Path, metavar="PATH",
        help="spec file or directory of *.yaml (repeatable; default: specs/)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="package directory to write (default: generated/)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the package is stale or was edited; write nothing")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if the inputs did not change")
    parser.add_argument("--verbose", action="store_true",
                        help="print when each stage started and ended (to stderr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(
        specs=tuple(args.spec or [PROJECT_ROOT / "specs"]),
        out=args.out or PROJECT_ROOT / "generated",
        check=args.check,
        force=args.force,
        verbose=args.verbose,
    )
    out = options.display(options.out) + "/"
    try:
        result = run(options)
    except GenerationFailed as exc:
        count = len(exc.problems)
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        if count > 1:
            print(f"generator: {count} problems; {out} left unchanged", file=sys.stderr)
        return 1
    except StaleOutput as exc:
        print(f"error: {exc}; run `make generate`", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"generator: interrupted; {out} left unchanged", file=sys.stderr)
        return 130
    counts = (f"{result.operations} operations, {result.schemas} schemas, "
              f"{result.families} families, {result.files} files")
    if options.check:
        print(f"{out} is up to date ({counts}) [{result.seconds:.2f} s]")
    elif result.skipped:
        print(f"{out} is up to date, nothing to do ({counts}) [{result.seconds:.2f} s]")
    else:
        verb = "generated" if result.written else "regenerated (unchanged)"
        print(f"{verb} {out}: {counts} [{result.seconds:.2f} s]")
    if options.verbose:
        _print_stages(result)
    return 0


def _print_stages(result: Result) -> None:
    """One line per stage: start, end and duration in seconds since the run started; the
    models worker's stages run alongside the parent's."""
    width = max((len(name) for name, _, _ in result.stages), default=5)
    print(f"{'stage':<{width}}  start    end   secs", file=sys.stderr)
    for name, begin, end in result.stages:
        print(f"{name:<{width}}  {begin:5.3f}  {end:5.3f}  {end - begin:5.3f}", file=sys.stderr)
    print(f"{'total':<{width}}  0.000  {result.seconds:5.3f}  {result.seconds:5.3f}",
          file=sys.stderr)
