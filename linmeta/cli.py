"""linmeta command line: regenerate figures, evaluate the theory, simulate, sweep.

Examples::

    linmeta figures                              # every registered figure into figures/
    linmeta figures fig3b --runs-scale 0.1 --quiet
    linmeta theory --preset fig3 --set alpha_t=-0.5 --json
    linmeta simulate --preset fig3 --set alpha_t=-0.5 --runs 1000 --seed 0 --method protocol
    linmeta sweep --preset fig3 --grid alpha_t=-2:1:25 --grid m=10,40,160 --runs 1000 --seed 0 \\
                  --out sweep.csv --scheduler dask-local

``--set NAME=VALUE`` accepts every Problem field (``w0``/``omega0`` take one
number, meaning a constant vector, or ``p`` comma-separated numbers, or
``none``).  ``--grid NAME=START:STOP:NUM`` is ``numpy.linspace`` (inclusive);
``--grid NAME=V1,V2,...`` lists values.  Bad input prints one line naming
what is wrong and exits with status 2.  The logic lives in the library
(:func:`linmeta.theory.test_loss`, :func:`linmeta.simulate`,
:func:`linmeta.sweep`, :func:`linmeta.figures.make`); this module only parses
and prints.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time

import numpy as np

__all__ = ["main", "build_parser", "parse_set", "parse_grid"]

_INT = ("p", "m", "n_t", "n_v", "n_r", "n_steps")
_FLOAT = ("sigma", "nu", "alpha_t", "alpha_r", "lam")
_VECTOR = ("w0", "omega0")


class UsageError(ValueError):
    """Bad command-line input (reported on one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _fields():
    from linmeta.problem import Problem

    return [f.name for f in dataclasses.fields(Problem)]


def _split(item, flag):
    name, sep, value = item.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UsageError(f"{flag} {item!r}: expected NAME=VALUE")
    if name not in _fields():
        raise UsageError(f"{flag} {item!r}: unknown Problem field {name!r}; valid: {', '.join(_fields())}")
    return name, value


def _scalar(name, text, flag):
    try:
        if name in _INT:
            x = float(text)
            if not x.is_integer():
                raise ValueError
            return int(x)
        if name == "lam" and text.lower() == "none":
            return None
        if name in _FLOAT:
            x = float(text)
            if not math.isfinite(x):
                raise ValueError
            return x
    except ValueError:
        kind = "an integer" if name in _INT else "a finite real number"
        raise UsageError(f"{flag} {name}={text}: {name} must be {kind}; got {text!r}") from None
    return text  # algorithm: Problem validates the choice


def parse_set(items, prob):
    """Apply ``NAME=VALUE`` strings to ``prob``; returns a validated Problem.

    Examples
    --------
    >>> import linmeta as lm
    >>> parse_set(["alpha_t=-0.5", "m=10"], lm.presets.FIG3).m
    10
    >>> parse_set(["p=20", "w0=0.5"], lm.presets.FIG3).w0[:2]
    array([0.5, 0.5])
    """
    from linmeta.sweep import replace_sizes

    scalars, vectors = {}, {}
    for item in items or ():
        name, value = _split(item, "--set")
        if name in _VECTOR:
            vectors[name] = value
        else:
            scalars[name] = _scalar(name, value, "--set")
    prob = replace_sizes(prob, **scalars)
    changes = {}
    for name, text in vectors.items():
        if text.lower() == "none":
            changes[name] = None
            continue
        try:
            vals = [float(v) for v in text.split(",")]
        except ValueError:
            raise UsageError(f"--set {name}={text}: {name} must be one number (a constant vector), "
                             f"{prob.p} comma-separated numbers, or none") from None
        changes[name] = np.full(prob.p, vals[0]) if len(vals) == 1 else np.array(vals)
    return prob.replace(**changes) if changes else prob


def parse_grid(items):
    """``["alpha_t=-2:1:25", "m=10,40"]`` -> ``{"alpha_t": [...25 values], "m": [10, 40]}``.

    Examples
    --------
    >>> parse_grid(["alpha_t=-1:1:3", "m=10,40"])
    {'alpha_t': [-1.0, 0.0, 1.0], 'm': [10, 40]}
    """
    grid = {}
    for item in items or ():
        name, value = _split(item, "--grid")
        if name in _VECTOR:
            raise UsageError(f"--grid {item!r}: {name} cannot be swept from the command line")
        if name in grid:
            raise UsageError(f"--grid {item!r}: {name} is given twice")
        if ":" in value:
            parts = value.split(":")
            if len(parts) != 3:
                raise UsageError(f"--grid {item!r}: expected {name}=START:STOP:NUM")
            start, stop = (_scalar("alpha_t", v, "--grid") for v in parts[:2])
            num = _scalar("n_t", parts[2], "--grid")
            if num < 1:
                raise UsageError(f"--grid {item!r}: NUM must be >= 1; got {num}")
            vals = [float(v) for v in np.round(np.linspace(start, stop, num), 12)]
            if name in _INT:
                if not all(float(v).is_integer() for v in vals):
                    raise UsageError(f"--grid {item!r}: {name} must be integers; the linspace gives {vals}")
                vals = [int(v) for v in vals]
            elif name not in _FLOAT:
                raise UsageError(f"--grid {item!r}: {name} is not numeric; list the values instead")
        else:
            vals = [_scalar(name, v.strip(), "--grid") for v in value.split(",")]
        grid[name] = vals
    return grid


# ----------------------------------------------------------------------------- output helpers
def _header(seed):
    from linmeta import __version__

    return f"linmeta {__version__} | seed {seed}"


def _problem_line(prob):
    d = prob.to_dict()
    return "problem: " + ", ".join(f"{k}={v}" for k, v in d.items()) + f" ({prob.regime})"


def _problem(args):
    from linmeta import presets

    return parse_set(args.set, presets.PRESETS[args.preset])


def _theory_dict(prob):
    from linmeta.figures import _theory

    notes = []
    out = {
        "test_loss": _theory("test_loss", notes, prob),
        "test_loss_printed": _theory("test_loss", notes, prob, form="printed")
        if prob.regime == "underparameterized" else None,
        "optimal_alpha_t": _theory("optimal_alpha_t", notes, prob),
        "optimal_alpha_r": _theory("optimal_alpha_r", notes, prob),
    }
    return {k: (None if v is None else float(v)) for k, v in out.items()}, notes


def _dump(obj):
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


# ----------------------------------------------------------------------------- commands
def cmd_theory(args):
    from linmeta import __version__

    prob = _problem(args)
    th, notes = _theory_dict(prob)
    if args.json:
        _dump({"linmeta_version": __version__, "seed": None, "preset": args.preset, "problem": prob.to_dict(),
               "regime": prob.regime, "theory": th, "notes": notes})
        return 0
    print(_header("none (theory is deterministic)"))
    print(f"preset {args.preset}")
    print(_problem_line(prob))
    for k, v in th.items():
        if v is not None:
            print(f"{k}: {v:.10g}")
    for n in notes:
        print(f"note: {n}")
    return 0


def cmd_simulate(args):
    from linmeta import __version__, simulate

    prob = _problem(args)
    est = simulate(prob, args.runs, args.seed, args.method, test_sampler=args.test_sampler,
                   progress=False if args.quiet else None)
    th, notes = _theory_dict(prob)
    z = None if th["test_loss"] is None else (est.mean - th["test_loss"]) / est.stderr
    if args.json:
        _dump({"linmeta_version": __version__, "seed": est.seed, "preset": args.preset, "problem": prob.to_dict(),
               "regime": prob.regime, "method": est.method, "n_runs": est.n_runs, "mean": est.mean,
               "stderr": est.stderr, "theory": th["test_loss"], "z": z})
        return 0
    print(_header(est.seed))
    print(f"preset {args.preset}")
    print(_problem_line(prob))
    print(f"simulation: {est}")
    if th["test_loss"] is not None:
        print(f"theory: {th['test_loss']:.6g}  (simulation - theory = {z:+.2f} SE)")
    return 0


def cmd_sweep(args):
    from linmeta import __version__, sweep

    prob = _problem(args)
    grid = parse_grid(args.grid)
    if not grid:
        raise UsageError("sweep: give at least one --grid NAME=VALUES")
    print(_header(args.seed))
    try:
        table = sweep(prob, grid, args.runs, args.seed, scheduler=args.scheduler, out=args.out, method=args.method,
                      workers=args.workers, progress=False if args.quiet else None)
    except KeyboardInterrupt:
        where = f"finished cells are saved in {args.out}; rerun the same command to resume" if args.out else \
            "nothing was saved (no --out)"
        print(f"linmeta: interrupted; {where}", file=sys.stderr)
        return 130
    for changes, note in table.attrs.get("skipped", []):
        cell = ", ".join(f"{k}={v}" for k, v in changes.items())
        print(f"skipped cell {cell}: {note}")
    cols = [*grid, "theory", "mean", "stderr", "n_runs", "seed", "status"]
    if not args.quiet:
        print(table[cols].to_string(index=False))
    ok = int((table["status"] == "ok").sum())
    dest = f"; wrote {args.out}" if args.out else ""
    print(f"{len(table)} cells ({ok} computed, {len(table) - ok} skipped), {args.runs} runs each, "
          f"seed {args.seed}, linmeta {__version__}{dest}")
    return 0


def cmd_figures(args):
    from linmeta import __version__
    from linmeta.figures import FIGURES, PAPER_PANELS, make

    names = args.names or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise UsageError(f"figures: unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    print(f"{_header(args.seed)} | runs-scale {args.runs_scale:g}")
    wall = {}
    for name in names:
        t0 = time.perf_counter()
        made = make(name, args.outdir, seed=args.seed, runs_scale=args.runs_scale,
                    progress=False if args.quiet else None, workers=args.workers)
        wall[name] = time.perf_counter() - t0
        print(f"{name}: {wall[name]:.1f} s (compute {made.seconds:.1f} s) -> "
              + ", ".join(made.paths))
        for n in made.notes:
            print(f"  note: {n}")
    panels = [n for n in PAPER_PANELS if n in wall]
    if panels:
        print(f"paper panels ({' '.join(panels)}): {sum(wall[n] for n in panels):.1f} s wall, "
              f"runs-scale {args.runs_scale:g}, seed {args.seed}, linmeta {__version__}")
    return 0


# ----------------------------------------------------------------------------- parser
def _bounded(kind, low, *, strict=False):
    """An argparse ``type``: parse ``kind`` and require ``> low`` (strict) or ``>= low``, finite."""
    rule = f"must be {'an integer' if kind is int else 'a number'} {'>' if strict else '>='} {low}"

    def parse(text):
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{rule}; got {text!r}") from None
        if not (math.isfinite(x) and (x > low if strict else x >= low)):
            raise argparse.ArgumentTypeError(f"{rule}; got {x if kind is int else repr(text)}")
        return x

    return parse


def build_parser():
    """The argparse parser (subcommands ``figures``, ``theory``, ``simulate``, ``sweep``)."""
    from linmeta import __version__, presets

    parser = _Parser(prog="linmeta", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"linmeta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def problem_args(p):
        p.add_argument("--preset", choices=sorted(presets.PRESETS), default="fig3",
                       help="base problem (theory.md §7); default fig3")
        p.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                       help="change a Problem field (repeatable)")

    runs, seed, positive = _bounded(int, 1), _bounded(int, 0), _bounded(float, 0, strict=True)

    f = sub.add_parser("figures", help="regenerate figures (PNG, PDF and the CSV each is drawn from)")
    f.add_argument("names", nargs="*", metavar="NAME", help="figures to make (default: all registered)")
    f.add_argument("--outdir", default="figures")
    f.add_argument("--seed", type=seed, default=0)
    f.add_argument("--runs-scale", type=positive, default=1.0, help="multiply every run count")
    f.add_argument("--workers", type=runs, default=None, help="Numba threads (results do not depend on it)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=cmd_figures)

    t = sub.add_parser("theory", help="leading-order test loss and optimal rates")
    problem_args(t)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_theory)

    s = sub.add_parser("simulate", help="Monte Carlo estimate of the test loss")
    problem_args(s)
    s.add_argument("--runs", type=runs, default=1000)
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--method", choices=["exact", "protocol"], default="exact")
    s.add_argument("--test-sampler", choices=["projected", "full"], default="projected",
                   help="protocol only: draw test inputs through their projections (default) or in full")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_simulate)

    w = sub.add_parser("sweep", help="theory and simulation on a parameter grid, resumable")
    problem_args(w)
    w.add_argument("--grid", action="append", metavar="NAME=START:STOP:NUM|V1,V2,...", default=[])
    w.add_argument("--runs", type=runs, default=1000)
    w.add_argument("--seed", type=seed, default=0)
    w.add_argument("--method", choices=["exact", "protocol"], default="exact")
    w.add_argument("--out", default=None, help="CSV written cell by cell; rerun to resume")
    w.add_argument("--scheduler", default="serial", metavar="serial|processes|dask-local|tcp://HOST:PORT")
    w.add_argument("--workers", type=runs, default=2, help="processes or Dask workers")
    w.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    w.set_defaults(func=cmd_sweep)
    from linmeta import _cli_check  # imports parse_set/parse_grid from this module, so not at the top
    _cli_check.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ValueError as err:  # UsageError and the library's validation errors
        print(f"linmeta: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
