r"""linmeta command line: regenerate figures, evaluate the theory, simulate, sweep.

Examples::

    linmeta figures                              # every registered figure into figures/
    linmeta figures fig3b --runs-scale 0.1 --quiet
    linmeta theory --preset fig3 --set alpha_t=-0.5 --json
    linmeta simulate --preset fig3 --set alpha_t=-0.5 --runs 1000 --seed 0 --method protocol
    linmeta sweep --preset fig3 --grid alpha_t=-2:1:25 --grid m=10,40,160 --runs 1000 --seed 0 \
                  --out sweep.csv --scheduler dask-local
    linmeta sweep --preset fig3 --cells budget.csv --runs 1000 --out budget-sweep.csv

``--set NAME=VALUE`` accepts every Problem field (``w0``/``omega0`` take one
number, meaning a constant vector, or ``p`` comma-separated numbers, or
``none``).  ``--grid NAME=START:STOP:NUM`` is ``numpy.linspace`` (inclusive);
``--grid NAME=V1,V2,...`` lists values; instead of ``--grid``, ``--cells FILE.csv``
gives the cells one by one (a header naming the fields, one cell per line,
values parsed as ``--grid`` values).  ``--workers`` is always a number of
parallel worker processes, ``--threads`` always a number of Numba threads.
Every error prints one line naming what is wrong and exits with status 2.

Exit status: 0 done; 1 ``check`` rejected the formula; 2 bad input or an
output that cannot be written (one line on stderr names the option or
stdout, and the cause); 3 ``check --rtol`` inconclusive; 130 a sweep
interrupted (Ctrl-C); 141 (128 + SIGPIPE)
stdout closed by its reader, for example ``linmeta sweep ... | head -1``:
linmeta stops quietly, as Unix tools do, and the work already done (a
``--out`` file) is kept.

The logic lives in the library (:func:`linmeta.theory.test_loss`,
:func:`linmeta.simulate`, :func:`linmeta.sweep`, :func:`linmeta.figures.make`);
this module only parses and prints.

A subcommand is a function ``add(sub)`` that adds its parser to the
subparsers ``sub`` (with :func:`add_command`) and sets ``func``; the list
:data:`COMMANDS` holds them, in the order ``--help`` shows them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numba

from linmeta import _check_cli, theory
from linmeta._cli_args import (
    COUNT,
    POSITIVE,
    Parser,
    UsageError,
    add_command,
    add_problem_arguments,
    add_seed,
    add_threads,
    parse_cells,
    parse_grid,
    parse_set,
    writing,
)
from linmeta._cli_problem import problem_from_args
from linmeta._version import __version__
from linmeta.estimate import estimated_seconds, simulate
from linmeta.figures import FIGURES, PAPER_PANELS, make
from linmeta.sweeping import SweepArgumentError, expand, sweep
from linmeta.theory._warnings import domain_warnings_to

__all__ = ["main", "build_parser", "add_command", "add_problem_arguments", "COMMANDS", "UsageError",
           "parse_set", "parse_grid", "parse_cells", "EXIT_STATUS", "EXIT_BROKEN_PIPE"]

#: exit status when stdout's reader has closed it (128 + SIGPIPE, as for a Unix tool killed by SIGPIPE)
EXIT_BROKEN_PIPE = 141
#: the exit statuses, as ``linmeta --help`` lists them
EXIT_STATUS = """\
exit status:
  0    done
  1    check: the formula is rejected (with --rtol: shown to differ by more than rtol)
  2    bad input, or an output that cannot be written (one line on stderr names the option or stdout)
  3    check --rtol: inconclusive, neither certified nor shown to differ (the summary says about how many runs would)
  130  sweep interrupted (Ctrl-C); finished cells are kept in --out
  141  stdout closed by its reader (e.g. piped into head): linmeta stops quietly; work done is kept"""

# ----------------------------------------------------------------------------- output
def _header(seed):
    return f"linmeta {__version__} | seed {seed}"


def _problem_line(prob):
    d = prob.to_dict()
    return "problem: " + ", ".join(f"{k}={v}" for k, v in d.items()) + f" ({prob.regime})"


def _problem(args):
    return problem_from_args(args)


def _theory_dict(prob):
    """Theory of ``prob`` and notes for what has no closed form or lies outside a measured domain.

    Every quantity comes from :func:`linmeta.theory.value_or_reason`; a
    quantity without a value is ``None`` with a note quoting the reason,
    except the printed form of Theorem 2, which is shown only where it is defined.
    Any other error propagates.
    """
    notes = []
    out = {}
    asked = (("test_loss", "test_loss", {}), ("test_loss_printed", "test_loss", {"form": "printed"}),
             ("test_loss_finite", "test_loss", {"approximation": "finite"}),
             ("test_loss_population", "test_loss", {"approximation": "population"}),
             ("optimal_alpha_t", "optimal_alpha_t", {}), ("optimal_alpha_r", "optimal_alpha_r", {}))
    for key, quantity, kwargs in asked:
        with domain_warnings_to(lambda message, key=key: notes.append(f"{key}: {message}")):   # as figures do
            got = theory.value_or_reason(quantity, prob, **kwargs)
        out[key] = None if got.value is None else float(got.value)
        if got.reason and (got.defined or key not in ("test_loss_printed", "test_loss_finite")):
            notes.append(f"{key}: {got.reason}")
    return out, notes


def _dump(obj):
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def _set_threads(threads):
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


# ----------------------------------------------------------------------------- commands
def cmd_theory(args):
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


def _announce(seconds):
    """Say on stderr how long work will take, if more than about a minute."""
    if seconds > 60:
        when = f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
        print(f"estimated time: about {when} (a rough cost model; Ctrl-C stops)", file=sys.stderr)


def cmd_simulate(args):
    prob = _problem(args)
    _set_threads(args.threads)
    _announce(estimated_seconds(prob, args.runs, args.method, test_sampler=args.test_sampler))
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
    for n in notes[:1] if th["test_loss"] is None else ():
        print(f"note: {n}")
    return 0


def cmd_sweep(args):
    prob = _problem(args)
    if args.cells is not None:
        grid = parse_cells(args.cells, prob)
    else:
        grid = parse_grid(args.grid)
        if not grid:
            raise UsageError("sweep: give at least one --grid NAME=VALUES, or --cells FILE.csv")
    cells = expand(prob, grid)
    if args.scheduler == "serial":
        _set_threads(args.threads)
    print(_header(args.seed))
    _announce(sum(estimated_seconds(q, args.runs, args.method) for _, q, _ in cells if q is not None))
    try:
        with writing("--out", args.out) if args.out else contextlib.nullcontext():
            table = sweep(prob, grid, args.runs, args.seed, scheduler=args.scheduler, out=args.out,
                          method=args.method, workers=args.workers,
                          threads=args.threads if args.scheduler == "processes" else None,
                          progress=False if args.quiet else None)
    except KeyboardInterrupt:
        where = f"finished cells are saved in {args.out}; rerun the same command to resume" if args.out else \
            "nothing was saved (no --out)"
        print(f"linmeta: interrupted; {where}", file=sys.stderr)
        return 130
    for changes, note in table.attrs["skipped"]:
        cell = ", ".join(f"{k}={v}" for k, v in changes.items())
        print(f"skipped cell {cell}: {note}")
    cols = [*cells[0][0], "theory_leading", "mean", "stderr", "n_runs", "seed", "status"]
    if not args.quiet:
        print(table[cols].to_string(index=False))
    dest = f"; wrote {args.out}" if args.out else ""
    print(f"{len(table)} cells: {table.attrs['computed']} computed, {table.attrs['reused']} reused, "
          f"{len(table.attrs['skipped'])} skipped; {args.runs} runs each, seed {args.seed}, "
          f"linmeta {__version__}{dest}")
    return 0


def _check_outdir(outdir):
    """Refuse ``--outdir`` before any work if it, or the nearest existing folder above it, is not a folder."""
    path = os.path.abspath(outdir)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        where = "" if path == os.path.abspath(outdir) else f" ({path} is a file)"
        raise UsageError(f"figures --outdir {outdir}: not a folder{where}")


def cmd_figures(args):
    names = args.names or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise UsageError(f"figures: unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    _check_outdir(args.outdir)
    threads = args.threads
    if args.old_workers is not None:
        if threads is not None:
            raise UsageError("figures: give --threads only (--workers is its old name)")
        threads = args.old_workers
        print("note: 'figures --workers' is now '--threads' (Numba threads)", file=sys.stderr)
    print(f"{_header(args.seed)} | runs-scale {args.runs_scale:g}")
    wall = {}
    for name in names:
        t0 = time.perf_counter()
        with writing("--outdir", args.outdir):
            made = make(name, args.outdir, seed=args.seed, runs_scale=args.runs_scale,
                        progress=False if args.quiet else None, threads=threads)
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
def _add_runs_method(p):
    p.add_argument("--runs", type=COUNT, default=1000, metavar="N",
                   help="Monte Carlo runs (per cell for a sweep); integer >= 1 (default: %(default)s)")
    add_seed(p)
    p.add_argument("--method", choices=["exact", "protocol"], default="exact",
                   help="exact: meta-train on fresh data, then the exact expected test loss given "
                        "the meta-parameters (low variance); protocol: score on sampled test tasks as in "
                        "the paper (default: %(default)s)")


def _figures(sub):
    f = add_command(sub, "figures", help="regenerate figures (PNG, PDF and the CSV each is drawn from)",
                    description="Compute each figure's data, save it as CSV, and draw the PNG and PDF from that CSV.",
                    examples=["linmeta figures                           # every registered figure into figures/",
                              "linmeta figures fig3b --runs-scale 0.1 --quiet --outdir /tmp/quick"],
                    func=cmd_figures)
    f.add_argument("names", nargs="*", metavar="NAME", help="figures to make (default: all registered)")
    f.add_argument("--outdir", default="figures", help="folder for the CSV, PNG and PDF files (default: %(default)s)")
    add_seed(f)
    f.add_argument("--runs-scale", type=POSITIVE, default=1.0,
                   help="multiply every run count, e.g. 0.01 for a quick look (default: %(default)s)")
    add_threads(f, "for the simulations")
    f.add_argument("--workers", dest="old_workers", type=COUNT, default=None, help=argparse.SUPPRESS)
    f.add_argument("--quiet", action="store_true", help="no progress bars")


def _theory(sub):
    t = add_command(sub, "theory", help="theoretical test loss and optimal rates",
                    description="Evaluate the theory: the leading-order test loss, Theorem 2 as printed, the "
                                "finite-size and the m -> infinity test loss, the optimal rates.",
                    examples=["linmeta theory --preset fig3 --set alpha_t=-0.5",
                              "linmeta theory --preset fig2 --set m=10 --json"],
                    func=cmd_theory)
    add_problem_arguments(t)
    t.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _simulate(sub):
    s = add_command(sub, "simulate", help="Monte Carlo estimate of the test loss",
                    description="Estimate the average meta-test loss by simulation and compare it with the theory.",
                    examples=["linmeta simulate --preset fig3 --set alpha_t=-0.5 --runs 1000 --seed 0",
                              "linmeta simulate --preset fig2 --method protocol --runs 200 --json"],
                    func=cmd_simulate)
    add_problem_arguments(s)
    _add_runs_method(s)
    s.add_argument("--test-sampler", choices=["projected", "full"], default="projected",
                   help="protocol only: draw test inputs through the statistics the score depends on (default) "
                        "or in full")
    add_threads(s, "for the simulation")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def _sweep(sub):
    w = add_command(sub, "sweep", help="theory and simulation on a parameter grid, resumable",
                    description="Evaluate theory and simulation on every cell of a grid (--grid), or of a list "
                                "of cells (--cells).  With --out, rows are saved as cells finish and a rerun of "
                                "the same command reuses them; a file that is not a sweep made with the same "
                                "arguments is refused and left unchanged.",
                    examples=["linmeta sweep --grid alpha_t=-2:1:25 --grid m=10,40,160 --runs 1000 --out s.csv",
                              "linmeta sweep --preset fig2 --grid p=40,80 --scheduler processes --workers 2",
                              "linmeta sweep --grid m=10,20 --scheduler tcp://HOST:8786 --out s.csv",
                              "linmeta sweep --cells budget.csv --runs 1000 --out s.csv   # budget.csv: m,n_t,n_v "
                              "then 10,5,5 ..."],
                    func=cmd_sweep)
    add_problem_arguments(w)
    cells = w.add_mutually_exclusive_group()
    cells.add_argument("--grid", action="append", metavar="NAME=START:STOP:NUM|V1,V2,...", default=[],
                       help="a swept Problem field: START:STOP:NUM is an inclusive linspace, V1,V2,... lists "
                            "values; repeat for a product grid (last --grid varies fastest)")
    cells.add_argument("--cells", default=None, metavar="FILE.csv",
                       help="the cells one by one, instead of --grid: a CSV file whose header names the swept "
                            "Problem fields and whose every line is one cell (values as for --grid: numbers, "
                            "lam may be none); the table keeps the file's order")
    _add_runs_method(w)
    w.add_argument("--out", default=None, metavar="FILE.csv",
                   help="CSV written cell by cell; rerun the same command to resume (default: no file)")
    w.add_argument("--scheduler", default="serial", metavar="serial|processes|dask-local|tcp://HOST:PORT",
                   help="where cells run; the numbers do not depend on it (default: %(default)s)")
    w.add_argument("--workers", type=COUNT, default=2, metavar="N",
                   help="parallel worker processes for --scheduler processes or dask-local (default: %(default)s)")
    add_threads(w, "(serial: in this process; processes: per worker)",
                 "all cores, shared among the workers")
    w.add_argument("--quiet", action="store_true", help="no progress bar, no table")


#: Subcommand builders, in --help order; each is ``add(sub)``.
COMMANDS = [_figures, _theory, _simulate, _sweep, _check_cli.add]


def build_parser():
    """Return the argparse parser: one subcommand per entry of :data:`COMMANDS`.

    Examples
    --------
    >>> build_parser().parse_args(["sweep", "--grid", "m=10,20", "--workers", "3"]).workers
    3
    """
    parser = Parser(prog="linmeta", description=__doc__.split("\n\n")[0], epilog=EXIT_STATUS,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"linmeta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _option(err):
    """Return a sweep argument error, named by its command-line option."""
    return f"--{err.param.replace('_', '-')} {err.value}: {err.cause}"


class _StdoutError(Exception):
    """Writing to stdout failed (``err``: the ``OSError``)."""

    def __init__(self, err):
        super().__init__(err)
        self.err = err


class _GuardedStdout:
    """``sys.stdout`` while a command runs: a failed write or flush raises :class:`_StdoutError`.

    This tells stdout's errors apart from those of every other file or pipe.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as err:
            raise _StdoutError(err) from err

    def flush(self):
        try:
            self._stream.flush()
        except OSError as err:
            raise _StdoutError(err) from err

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _discard(stream):
    """Point ``stream``'s file descriptor at the null device: what is still buffered cannot fail at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see :data:`EXIT_STATUS`; 2 for an error, printed on one line)."""
    stdout = sys.stdout
    guarded = _GuardedStdout(stdout)
    try:
        with contextlib.redirect_stdout(guarded):
            try:
                args = build_parser().parse_args(argv)
                status = args.func(args)
            except SystemExit as exc:  # --help / --version
                status = exc.code if isinstance(exc.code, int) else 0
            guarded.flush()
        return status
    except _StdoutError as exc:
        _discard(stdout)
        if isinstance(exc.err, BrokenPipeError):  # the reader has all it wants: stop quietly
            return EXIT_BROKEN_PIPE
        message = f"cannot write to stdout: {exc.err.strerror or exc.err}"
    except SweepArgumentError as err:
        message = _option(err)
    except (ValueError, OSError, NotImplementedError) as err:  # UsageError, validation errors, files
        message = " ".join(str(err).split())
    print(f"linmeta: error: {message}", file=sys.stderr)
    return 2
