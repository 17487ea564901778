"""Kernel-side linear algebra: the one ``jit`` decorator and LAPACK factor/solve pairs for Numba code.

Every compiled function in linmeta is decorated with :func:`jit` (see its
docstring for the options and why).  Products use ``np.dot``, which Numba
maps to BLAS (``dgemm``/``dgemv``); factorisations call LAPACK through
Numba's bridges to SciPy's LAPACK, so they run at library speed inside
``nopython`` code, stay cacheable, and report failure as a return value
instead of raising:

==========================  =========================================================================
:func:`gram_rows`           ``A A^T`` by BLAS ``dsyrk`` (half the work of ``np.dot(A, A.T)``)
:func:`gram_cols`           ``A^T A`` by BLAS ``dsyrk``
:func:`cholesky_factor`     ``A = L L^T`` in place (``L`` lower); returns a condition bound or ``inf``
:func:`cholesky_solve`      ``A x = b`` from the factor (``b`` a vector or rows of right-hand sides)
:func:`lu_factor`           ``A^T = P L U`` in place; returns a condition estimate or ``inf``
:func:`lu_solve`            ``A x = b`` from the factor
==========================  =========================================================================

Arrays are C-ordered float64; LAPACK sees them transposed (Fortran order),
which the wrappers account for.  A factor is computed once and reused for
any number of right-hand sides; the substitutions are loops with every sum
in index order (``O(n^2)`` per right-hand side against ``O(n^3)`` for the
factor).

The BLAS and LAPACK calls are deterministic for a given input when the
library runs one thread: callers pin it (``threadpoolctl``) to one thread per
worker, so results do not depend on the thread count.
"""
from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (provides the dsyrk export registered below)
from numba.core import types
from numba.extending import get_cython_function_address
from numba.np.linalg import ensure_lapack

__all__ = ["jit", "gram_rows", "gram_cols", "cholesky_factor", "cholesky_solve", "lu_factor", "lu_solve"]


def jit(func=None, *, parallel=False):
    """Compile ``func`` with Numba the one way linmeta does: ``njit(cache=True, nogil=True, parallel=...)``.

    * no ``fastmath``: re-association would let the compiler change the order
      of floating-point sums between builds, loop shapes and thread counts, so a
      seed would no longer fix every number bit for bit;
    * every sum is written in a fixed index order (or delegated to one BLAS or
      LAPACK call with one thread), never split across threads: under
      ``parallel=True`` each ``prange`` iteration writes only its own slots;
    * ``cache=True``: compiled code is stored next to the module, so only the
      first import on a machine pays the compilation;
    * ``nogil=True``: compiled code releases the GIL, so threads of the caller
      (e.g. a thread pool drawing random numbers) run alongside.

    Use as ``@jit`` or ``@jit(parallel=True)``.

    Examples
    --------
    >>> from linmeta._sim import linalg as _linalg
    >>> _linalg.cholesky_factor.targetoptions["nogil"], "fastmath" in _linalg.cholesky_factor.targetoptions
    (True, False)
    """
    decorate = numba.njit(cache=True, nogil=True, parallel=parallel)
    return decorate if func is None else decorate(func)


ensure_lapack()  # registers the LAPACK symbols below (SciPy's LAPACK, loaded by Numba)
_F_INT = types.intc
#: LAPACK through Numba's own bridges (cacheable, unlike ctypes pointers); ``kind`` is ``ord("d")``
_xxpotrf = types.ExternalFunction(
    "numba_xxpotrf", types.intc(types.char, types.char, types.intp, types.CPointer(types.float64), types.intp))
_xxgetrf = types.ExternalFunction(
    "numba_xxgetrf", types.intc(types.char, types.intp, types.intp, types.CPointer(types.float64), types.intp,
                                types.CPointer(_F_INT)))
_KIND = ord("d")
_UPPER = ord("U")
# BLAS dsyrk (symmetric rank-k update) is not among Numba's bridges: register SciPy's export under
# a name of ours, which cached code refers to by name (so caching keeps working)
llvm.add_symbol("linmeta_dsyrk", get_cython_function_address("scipy.linalg.cython_blas", "dsyrk"))
_I8, _I32, _F64 = types.CPointer(types.int8), types.CPointer(types.int32), types.CPointer(types.float64)
_dsyrk = types.ExternalFunction("linmeta_dsyrk", types.void(_I8, _I8, _I32, _I32, _F64, _F64, _I32, _F64, _F64, _I32))


@jit
def _gram(A, rows):
    k, n = A.shape
    size = k if rows else n
    out = np.empty((size, size))
    if size == 0:
        return out
    flags = np.array([_UPPER, ord("T") if rows else ord("N")], dtype=np.int8)
    # n, k, lda, ldc of LAPACK's column-major view A^T (n x k): A A^T = (A^T)^T A^T, A^T A = A^T (A^T)^T
    dims = np.array([size, n if rows else k, n, size], dtype=np.int32)
    coef = np.array([1.0, 0.0])
    _dsyrk(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes, coef[0:].ctypes, A.ctypes,
           dims[2:].ctypes, coef[1:].ctypes, out.ctypes, dims[3:].ctypes)
    for i in range(size):  # dsyrk filled the lower triangle (upper in Fortran order): mirror it
        for j in range(i + 1, size):
            out[i, j] = out[j, i]
    return out


@jit
def gram_rows(A):
    """Return ``A A^T`` (exactly symmetric) for a C-contiguous ``A`` by one BLAS ``dsyrk`` call.

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import gram_rows
    >>> gram_rows(np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
    [[5.0, 11.0, 2.0], [11.0, 25.0, 4.0], [2.0, 4.0, 1.0]]
    """
    return _gram(A, True)


@jit
def gram_cols(A):
    """``A^T A`` (exactly symmetric) for a C-contiguous ``A`` by one BLAS ``dsyrk`` call.

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import gram_cols
    >>> gram_cols(np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
    [[10.0, 14.0], [14.0, 21.0]]
    """
    return _gram(A, False)


@jit
def cholesky_factor(A):
    """Factor a symmetric positive definite ``A`` in place: afterwards ``np.tril(A) = L`` with ``L L^T = A``.

    ``L`` is the factor :func:`numpy.linalg.cholesky` returns; the strict upper
    triangle of ``A`` is left as it was (LAPACK ``dpotrf``).

    Returns
    -------
    float
        ``(max L_ii / min L_ii)^2``, a lower bound on ``cond(A)`` (the
        diagonal of a triangular factor holds its eigenvalues), or ``inf``
        when ``A`` is not numerically positive definite (then ``A`` holds a
        partial factor that must not be used).

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import cholesky_factor
    >>> A = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> cholesky_factor(A), np.tril(A).tolist()
    (1.0, [[2.0, 0.0], [1.0, 2.0]])
    >>> cholesky_factor(np.array([[1.0, 2.0], [2.0, 1.0]]))
    inf
    """
    n = A.shape[0]
    if n == 0:
        return 1.0
    # C order is LAPACK's transpose: "U" in Fortran order is the lower triangle here
    if _xxpotrf(_KIND, _UPPER, n, A.ctypes, n) != 0:
        return np.inf
    lo, hi = A[0, 0], A[0, 0]
    for i in range(n):
        lo = min(lo, A[i, i])
        hi = max(hi, A[i, i])
    return (hi / lo) ** 2


@jit
def cholesky_solve(L, b):
    """Solve ``A x = b`` given ``L`` from :func:`cholesky_factor`; ``b`` is (n,) or rows ``(nrhs, n)``.

    Forward then back substitution, each sum in index order.  Returns a new
    array shaped like ``b`` (for rows: ``x[j]`` solves ``A x[j] = b[j]``).

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import cholesky_factor, cholesky_solve
    >>> A = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> L = A.copy(); _ = cholesky_factor(L)
    >>> cholesky_solve(L, np.array([6.0, 7.0])).tolist()
    [1.0, 1.0]
    """
    n = L.shape[0]
    x = np.ascontiguousarray(b).copy()
    rows = x.reshape((-1, n))
    for j in range(rows.shape[0]):
        v = rows[j]
        for i in range(n):  # L y = b
            s = v[i]
            for c in range(i):
                s -= L[i, c] * v[c]
            v[i] = s / L[i, i]
        for i in range(n - 1, -1, -1):  # L^T x = y
            s = v[i]
            for c in range(i + 1, n):
                s -= L[c, i] * v[c]
            v[i] = s / L[i, i]
    return x


@jit
def lu_factor(A, piv):
    """Factor a square ``A`` in place with partial pivoting (LAPACK ``dgetrf``); pivots into ``piv``.

    ``piv`` is an ``int32`` array of length ``n``.  LAPACK factors the
    column-major view ``A^T = P L U``; here ``np.tril(A)`` holds ``U^T`` and
    the strict upper triangle ``L^T`` (unit diagonal), so ``A = U^T L^T P^T``.
    :func:`lu_solve` uses exactly that.

    Returns
    -------
    float
        ``max |U_ii| / min |U_ii|`` (an estimate of ``cond(A)``, exact for
        triangular matrices), or ``inf`` when ``A`` is exactly singular (a zero
        pivot; the factor must not be used).

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import lu_factor
    >>> lu_factor(np.array([[0.0, 1.0], [2.0, 0.0]]), np.empty(2, np.int32))
    2.0
    >>> lu_factor(np.array([[1.0, 2.0], [2.0, 4.0]]), np.empty(2, np.int32))
    inf
    """
    n = A.shape[0]
    if n == 0:
        return 1.0
    if _xxgetrf(_KIND, n, n, A.ctypes, n, piv.ctypes) != 0:
        return np.inf
    lo, hi = abs(A[0, 0]), abs(A[0, 0])
    for i in range(n):
        lo = min(lo, abs(A[i, i]))
        hi = max(hi, abs(A[i, i]))
    return hi / lo


@jit
def lu_solve(LU, piv, b):
    """Solve ``A x = b`` given ``LU, piv`` from :func:`lu_factor`; ``b`` is (n,) or rows ``(nrhs, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from linmeta._sim.linalg import lu_factor, lu_solve
    >>> A, piv = np.array([[0.0, 1.0], [2.0, 0.0]]), np.empty(2, np.int32)
    >>> _ = lu_factor(A, piv)
    >>> lu_solve(A, piv, np.array([3.0, 4.0])).tolist()
    [2.0, 3.0]
    """
    n = LU.shape[0]
    x = np.ascontiguousarray(b).copy()
    rows = x.reshape((-1, n))
    for j in range(rows.shape[0]):
        v = rows[j]
        for i in range(n):  # U^T y = b (lower triangle, diagonal included)
            s = v[i]
            for c in range(i):
                s -= LU[i, c] * v[c]
            v[i] = s / LU[i, i]
        for i in range(n - 1, -1, -1):  # L^T z = y (strict upper triangle, unit diagonal)
            s = v[i]
            for c in range(i + 1, n):
                s -= LU[i, c] * v[c]
            v[i] = s
        for i in range(n - 1, -1, -1):  # x = P z: LAPACK's 1-based row swaps, undone in reverse order
            t = piv[i] - 1
            if t != i:
                v[i], v[t] = v[t], v[i]
    return x
