"""``linmeta check``: the command line of :func:`linmeta.check` (a formula against the simulation, from the shell).

Exit status: 0 passed (or equivalent within ``--rtol``), 1 rejected (or differs), 2 bad input, 3 inconclusive.
"""
from __future__ import annotations

import argparse
import json
import math

from matplotlib.figure import Figure

from linmeta._check import check
from linmeta._cli_args import (
    COUNT,
    NON_NEGATIVE,
    add_command,
    add_problem_arguments,
    add_seed,
    check_plot_file,
    parse_grid,
    writing,
)
from linmeta._cli_problem import problem_from_args
from linmeta._version import __version__
from linmeta.plotting import plot_check

__all__ = ["add", "run", "VERDICT_EXIT"]

VERDICT_EXIT = {"passed": 0, "equivalent": 0, "rejected": 1, "differs": 1, "inconclusive": 3}

EPILOG = """\
FORMULA is the average test loss in the symbols p, m, n_t, n_v, n_r, sigma, nu,
alpha_t, alpha_r and dist0 (= |omega0 - w0|), with numbers, + - * / ** ^ ( ) and
sqrt, exp, log, Abs; anything else (or a formula longer than 10000 characters,
with more than 1000 numbers and symbols or nested more than 60 levels deep) is
refused (exit status 2).  rtol=0 rejects when any cell's z-score exceeds the
two-sided threshold at --level after Holm's correction over the grid cells.
rtol>0 is an equivalence test with three outcomes: EQUIVALENT when two one-sided
tests at --level certify |E[loss]/formula - 1| < rtol at every cell; DIFFERS
when some cell is shown (Holm-corrected) to be off by more than rtol; otherwise
INCONCLUSIVE, with roughly the runs per cell that would settle it.  Every test
corrects for the skewness of the per-run losses (Hall's transformation); use at
least a few hundred runs.  The verdict holds on the grid only; the summary names
the parameters held fixed.
Exit status: 0 passed or equivalent, 1 rejected or differs, 2 bad input,
3 inconclusive.

examples:
  # the exact alpha_t = 0 loss, over-parameterised: passes
  linmeta check "sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2 \\
      * (nu^2 + dist0^2*(1 - n_v*m/p) + nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1))" \\
      --preset fig2 --set alpha_t=0 --grid m=2,4,8 --runs 2000
  # a guess that ignores the task spread's growth with alpha_t: rejected (exit status 1), as JSON, with a plot
  linmeta check "sigma^2/2*(1 + alpha_r^2*p/n_r) + nu^2/2" --grid alpha_t=-0.5:0.5:3 --runs 1000 \
      --json --plot check.png
  # a leading-order formula: certified within 2 % at every cell (0), off by more (1) or not settled (3)
  linmeta check "..." --grid m=20,40,80 --rtol 0.02
"""


def _level(text):
    """Argparse type of ``--level``: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1); got {text!r}") from None
    if not (math.isfinite(value) and 0 < value < 1):
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1); got {text!r}")
    return value


def add(sub):
    """Register ``check`` on the ``linmeta`` subcommands ``sub``; returns its parser."""
    description, examples = EPILOG.split("\nexamples:\n")
    c = add_command(sub, "check", help="test a formula for the test loss against simulation on a grid",
                    description="Test a formula for the average test loss against simulation on a grid of "
                                "problems.\n\n" + description.strip(),
                    examples=[line[2:] for line in examples.rstrip().split("\n")], func=run)
    c.add_argument("formula", metavar="FORMULA", help="the average test loss in the paper's symbols (see above)")
    add_problem_arguments(c)
    c.add_argument("--grid", action="append", metavar="NAME=START:STOP:NUM|V1,V2,...", default=[],
                   help="a grid field (repeatable; cells are the Cartesian product); default: the base problem only")
    c.add_argument("--runs", type=COUNT, default=4000, metavar="N",
                   help="Monte Carlo runs per cell, integer >= 2 (default: %(default)s)")
    add_seed(c)
    c.add_argument("--rtol", type=NON_NEGATIVE, default=0.0,
                   help="0: exact z-test; > 0: equivalence test, certified when every cell is shown to be within this "
                        "relative deviation (exit 0), differs (1) or inconclusive (3) (default: %(default)s)")
    c.add_argument("--level", type=_level, default=0.01,
                   help="family-wise error rate of rejection over the grid, Holm correction; with --rtol also the "
                        "chance of certifying a formula off by rtol or more (default: %(default)s)")
    c.add_argument("--method", choices=["exact", "protocol"], default="exact",
                   help="simulation method (default: %(default)s)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--plot", metavar="FILE", default=None, help="save a plot of formula and simulation (PNG, PDF, ...)")
    return c


def _grid(args, prob):
    grid = parse_grid(args.grid)
    if not grid:  # the base problem alone: one cell
        grid = {"alpha_t": [prob.alpha_t]}
    return grid


def run(args) -> int:
    """Run ``linmeta check``; returns the verdict's exit status (:data:`VERDICT_EXIT`); bad input raises ValueError."""
    if args.plot:
        check_plot_file(args.plot)  # before the simulation, not after it
    prob = problem_from_args(args)
    res = check(args.formula, prob, _grid(args, prob), n_runs=args.runs, seed=args.seed, rtol=args.rtol,
                level=args.level, method=args.method)
    if args.plot:
        fig = Figure(figsize=(5.5, 3.6), layout="constrained")
        plot_check(fig.subplots(), res)
        with writing("--plot", args.plot):
            fig.savefig(args.plot)
    if args.json:
        print(json.dumps({
            "linmeta_version": __version__, "formula": res.formula, "passed": res.passed, "verdict": res.verdict,
            "runs_needed": res.runs_needed, "fixed": res.fixed, "mode": res.mode,
            "correction": res.correction, "skew_correction": res.skew_correction, "skewness": list(res.skewness),
            "rtol": res.rtol, "level": res.level, "n_runs": res.n_runs,
            "seed": res.seed, "method": res.method, "preset": args.preset, "problem": prob.to_dict(),
            "cells": json.loads(res.table.to_json(orient="records")),
        }, indent=2))
    else:
        print(f"linmeta {__version__} | seed {res.seed} | formula: {res.formula}")
        print(res.table.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
        print(res.summary())
    return VERDICT_EXIT[res.verdict]
