"""Parameter sweeps: grid cells, the resumable table, schedulers and :func:`sweep` itself.

``linmeta.sweep`` is the function; this package holds its parts, one job per
module:

* :mod:`linmeta.sweeping.grid`: grid values, cells (of a grid or a list) and cell keys;
* :mod:`linmeta.sweeping.table`: what the CSV's bytes mean (columns,
  recognising and validating a file, row digests) and :func:`read_table`;
* :mod:`linmeta.sweeping.outfile`: the file on disk (lock, identity checks
  before every write, the atomic rewrite beside the target);
* :mod:`linmeta.sweeping.schedulers`: serial, process pool, Dask;
* :mod:`linmeta.sweeping.run`: :func:`sweep` and :func:`theory_values`.

Examples
--------
>>> import linmeta as lm
>>> from linmeta.sweeping import sweep
>>> sweep is lm.sweep
True
"""
from linmeta.sweeping.errors import SweepArgumentError
from linmeta.sweeping.grid import (
    PARAMS,
    cell_key,
    cell_of,
    cells_of,
    check_cells,
    check_grid,
    expand,
    listed_cells,
    replace_sizes,
)
from linmeta.sweeping.run import sweep, theory_values
from linmeta.sweeping.schedulers import SCHEDULERS
from linmeta.sweeping.table import RESULT_COLUMNS, THEORY_COLUMNS, columns, read_table

__all__ = ["sweep", "theory_values", "SweepArgumentError", "PARAMS", "SCHEDULERS", "RESULT_COLUMNS",
           "THEORY_COLUMNS", "cell_key", "cell_of", "cells_of", "check_cells", "check_grid", "columns", "expand",
           "listed_cells", "read_table", "replace_sizes"]
