"""The problem specification: one frozen record of the paper's parameters.

Symbols (one code name per paper symbol, docs: theory, §1–2 and §6–8):

==========  =================================================================
``p``       input dimension (number of parameters)
``m``       number of meta-training tasks
``n_t``     training points per task (inner step)
``n_v``     validation points per task (meta-loss)
``n_r``     adaptation points of the meta-test task
``sigma``   label-noise standard deviation
``nu``      task spread: ``w ~ N(w0, nu**2 / p I)``
``alpha_t`` inner learning rate at meta-training (any real, negative allowed)
``alpha_r`` adaptation learning rate at meta-test
``w0``      mean task vector (``None`` = zero vector of length ``p``)
``omega0``  initial value of meta-training (``None`` = zero vector of length ``p``); selects
            the nearest solution in the over-parameterised regime
``n_steps`` inner gradient steps ``N`` (MAML and first-order MAML)
``lam``     iMAML proximal strength ``lambda``
==========  =================================================================

Beyond the paper's model (docs: theory, M3 and M4): ``input_cov`` (the
diagonal covariance of ``x``), ``task_cov`` (the diagonal covariance of ``w``
around ``w0``, in place of ``nu``) and ``tasks`` (a user's task sampler, in
place of ``sigma``, ``nu`` and ``w0``); :class:`linmeta.Mixture` mixes problems.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from linmeta._model import h
from linmeta._sim.budget import check_vectors_fit
from linmeta._validation import check_int, check_positive_vector, check_real, check_vector
from linmeta.algorithms._registry import INNER_MAPS, MAML, check_problem_fields

__all__ = ["Problem", "ALGORITHMS", "REGIMES", "INT_FIELDS", "FLOAT_FIELDS", "VECTOR_FIELDS", "MODEL_FIELDS",
           "RATE_FIELDS", "SIZE_MAX",
           "SCALE_MAX", "check_size"]

ALGORITHMS = tuple(INNER_MAPS)  # "maml", "fomaml", "imaml", "erm"
REGIMES = ("overparameterized", "underparameterized")
_INT_FIELDS = ("p", "m", "n_t", "n_v", "n_r")
#: Problem fields by kind (``algorithm`` is the one text field).
INT_FIELDS = (*_INT_FIELDS, "n_steps")
FLOAT_FIELDS = ("sigma", "nu", "alpha_t", "alpha_r", "lam")   # lam may also be None
VECTOR_FIELDS = ("w0", "omega0")
#: Fields that choose the task distribution beyond the paper's model (summarised by the tables' ``model`` column).
MODEL_FIELDS = ("input_cov", "task_cov", "tasks")
#: The two step sizes.  A run draws its tasks and data independently of them, so every value of a rate shares
#: one set of random draws (common random numbers): a curve or an optimum over a rate is simulated in one pass.
RATE_FIELDS = ("alpha_t", "alpha_r")
#: Largest size (``p, m, n_t, n_v, n_r``): the formulas use sizes as floats, exact up to 2**53.
SIZE_MAX = 2**53
#: Largest ``sigma``, ``nu`` and ``|w0|``, ``|omega0|`` entry.  The loss is homogeneous of degree 2 in
#: ``(sigma, nu, w0, omega0)`` and its Monte Carlo variance of degree 4; at 1e50 the fourth power is 1e200,
#: which leaves a factor 1e108 of double precision (about 1.8e308) for the rates and sizes.  Above about
#: 1.3e154 even ``sigma**2`` is not a double.  Any larger problem is a rescaled copy of one within range.
SCALE_MAX = 1e50


def check_size(value, name="p"):
    """Return ``value`` as a size in ``[1, SIZE_MAX]``; for ``p``, also check that length-p vectors fit in memory.

    Nothing of length ``value`` is allocated.

    Examples
    --------
    >>> check_size(30)
    30
    >>> check_size(10**30)
    Traceback (most recent call last):
    ...
    ValueError: p must be an integer >= 1 and <= 2**53; got 1000000000000000000000000000000
    """
    value = check_int(value, name, min_val=1, max_val=SIZE_MAX, max_text="2**53")
    if name == "p":
        check_vectors_fit(value)
    return value


@dataclass(frozen=True, eq=False)
class Problem:
    """Gaussian mixed linear regression with MAML meta-training (docs: theory, M1, MAML1).

    Every field is validated when the problem is built; a bad value raises
    ``ValueError`` naming the field, the valid range and the value received.
    Use :meth:`replace` to change a field (:func:`dataclasses.replace`
    also works but keeps default vectors at their old length).

    Parameters
    ----------
    p, m, n_t, n_v, n_r : int
        Sizes, each >= 1.  ``p == n_v * m`` (the interpolation threshold) is
        rejected (``p == (n_t + n_v) * m`` for ERM).
        Each is at most ``SIZE_MAX`` (``2**53``), and ``p`` is refused
        before anything is allocated if the problem's length-``p`` vectors
        do not fit in memory.
    sigma, nu : float or None
        Noise and task standard deviations, in ``[0, SCALE_MAX]`` (``1e50``).
        ``nu`` is ``None`` when ``task_cov`` is given; both are ``None`` when
        ``tasks`` is.
    alpha_t, alpha_r : float
        Training and adaptation rates, finite (negative allowed).
    w0, omega0 : array_like of shape (p,), optional
        Mean task and initial meta-parameters, entries of magnitude at most
        ``SCALE_MAX``; ``None`` is the zero vector,
        and stays the zero vector of the new length when :meth:`replace`
        changes ``p``.
    algorithm : {"maml", "fomaml", "imaml", "erm"}, default="maml"
        Meta-learning algorithm.  ``"erm"``: pooled training, one least-squares
        fit on all ``n_t + n_v`` points of every task (no inner step:
        ``alpha_t`` is kept but not read, and a curve over it is refused).
    n_steps : int, default=1
        Inner gradient steps (``"maml"`` and ``"fomaml"``; must be 1 for iMAML and ERM).
    lam : float, optional
        iMAML proximal strength, required and > 0 for ``"imaml"``, rejected
        otherwise.
    input_cov : float or array_like of shape (p,), optional
        Covariance of the inputs: ``None`` is ``I``, a float ``c > 0`` is
        ``c I``, an array of ``p`` positive values is the diagonal covariance.
    task_cov : array_like of shape (p,), optional
        Diagonal covariance of the tasks around ``w0`` (non-negative; zeros put
        the task prior on a few true features), in place of ``nu``
        (``nu=None``).
    tasks : callable, optional
        A task sampler ``draw(rng, n) -> {"input_factor": F, "w": W, "sigma": s}``
        (``rng`` a :class:`numpy.random.Generator` owned by linmeta; ``F`` of
        shape ``(n, p)``, the inputs' standard deviations, or ``(n, p, p)``,
        ``x = F_i z``; ``W`` (n, p) the tasks; ``s`` (n,) their noise), in place
        of ``sigma``, ``nu`` and ``w0`` (all ``None``).

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.Problem(p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=0.2,
    ...                   alpha_t=0.2, alpha_r=0.2)
    >>> prob.regime
    'underparameterized'
    >>> prob.replace(alpha_t=-0.5).alpha_t
    -0.5
    >>> prob.replace(p=120).w0.shape        # default vectors follow p
    (120,)

    Anisotropic inputs, and a task prior on the first five features:

    >>> import numpy as np
    >>> aniso = lm.Problem(p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=None, alpha_t=0.2, alpha_r=0.2,
    ...                    input_cov=np.linspace(0.5, 2.0, 30), task_cov=np.r_[np.full(5, 0.2), np.zeros(25)])
    >>> aniso.task_cov[:6]
    array([0.2, 0.2, 0.2, 0.2, 0.2, 0. ])

    References
    ----------
    docs: theory, §1 (M1), §2 (MAML1), §6 (B1), §8 (I1), §9 (F1).
    """

    p: int
    m: int
    n_t: int
    n_v: int
    n_r: int
    sigma: float | None
    nu: float | None
    alpha_t: float
    alpha_r: float
    w0: np.ndarray | None = field(default=None, repr=False)
    omega0: np.ndarray | None = field(default=None, repr=False)
    algorithm: str = MAML
    n_steps: int = 1
    lam: float | None = None
    input_cov: float | np.ndarray | None = field(default=None, repr=False)
    task_cov: np.ndarray | None = field(default=None, repr=False)
    tasks: Callable | None = field(default=None, repr=False)

    def __post_init__(self):
        """Check every field and build the default vectors; raise ``ValueError`` naming a bad field."""
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        # every scalar is checked before the length-p vectors are built (check_size refuses a p they cannot fit)
        for name in _INT_FIELDS:
            put(name, check_size(getattr(self, name), name))
        self._check_scales(put)
        for name in RATE_FIELDS:
            put(name, check_real(getattr(self, name), name))
        # remember which vectors the user left at their default, so that replace(p=...) resizes them
        put("_default_vectors", tuple(name for name in VECTOR_FIELDS if getattr(self, name) is None))
        put("w0", check_vector(self.w0, "w0", self.p, max_abs=SCALE_MAX))
        put("omega0", check_vector(self.omega0, "omega0", self.p, max_abs=SCALE_MAX))
        self._check_covariances(put)
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {self.algorithm!r}")
        put("n_steps", check_int(self.n_steps, "n_steps", min_val=1))
        put("lam", check_problem_fields(self.algorithm, self.n_steps, self.lam,
                                        lambda lam: check_real(lam, "lam", min_val=0, strict=True)))
        if self.p == self.k:
            k = "(n_t + n_v) * m" if INNER_MAPS[self.algorithm].pooled else "n_v * m"
            raise ValueError(
                f"p == {k} == {self.p} is the interpolation threshold; meta-training is singular "
                f"(choose p < {k} or p > {k})"
            )

    def _check_scales(self, put):
        """``sigma`` and ``nu`` (or their absence, with ``task_cov`` or ``tasks``)."""
        if self.tasks is not None:
            if not callable(self.tasks):
                raise ValueError(f"tasks must be a callable draw(rng, n) -> dict; got {self.tasks!r}")
            for name in ("sigma", "nu", "input_cov", "task_cov", "w0"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} must be None when tasks= gives a task sampler (it draws the tasks, "
                                     f"their inputs and noise); got {name}={getattr(self, name)!r}")
            return
        if self.sigma is None:
            raise ValueError("sigma must be a real number >= 0 (it may be None only with tasks=); got None")
        put("sigma", check_real(self.sigma, "sigma", min_val=0, max_abs=SCALE_MAX))
        if self.task_cov is None and self.nu is None:
            raise ValueError("nu must be a real number >= 0 (the task prior nu**2/p I), or None with task_cov given; "
                             "got nu=None and task_cov=None")
        if self.task_cov is not None and self.nu is not None:
            raise ValueError(f"nu must be None when task_cov gives the task prior; got nu={self.nu!r}")
        if self.nu is not None:
            put("nu", check_real(self.nu, "nu", min_val=0, max_abs=SCALE_MAX))

    def _check_covariances(self, put):
        """``input_cov``: None, a positive float or ``p`` positive values; ``task_cov``: ``p`` values >= 0."""
        if self.input_cov is not None:
            if np.ndim(self.input_cov) == 0:
                put("input_cov", check_real(self.input_cov, "input_cov", min_val=0, strict=True, max_abs=SCALE_MAX))
            else:
                put("input_cov", check_positive_vector(self.input_cov, "input_cov", self.p, strict=True,
                                                       max_abs=SCALE_MAX))
        if self.task_cov is not None:
            put("task_cov", check_positive_vector(self.task_cov, "task_cov", self.p, strict=False,
                                                  max_abs=SCALE_MAX))

    # ------------------------------------------------------------------ derived
    @property
    def k(self) -> int:
        """Number of meta-training equations: ``n_v * m``, or ``(n_t + n_v) * m`` for ERM (pooled points)."""
        if INNER_MAPS[self.algorithm].pooled:
            return (self.n_t + self.n_v) * self.m
        return self.n_v * self.m

    @property
    def regime(self) -> str:
        """``"overparameterized"`` (``p > k``) or ``"underparameterized"`` (``p < k``), ``k`` = :attr:`k`."""
        return REGIMES[0] if self.p > self.k else REGIMES[1]

    @property
    def h_t(self) -> float:
        """``(1 - alpha_t)**2 + alpha_t**2 (p + 1) / n_t`` (docs: theory, T1)."""
        return float(h(self.alpha_t, self.p, self.n_t))

    @property
    def h_r(self) -> float:
        """``(1 - alpha_r)**2 + alpha_r**2 (p + 1) / n_r`` (docs: theory, T0)."""
        return float(h(self.alpha_r, self.p, self.n_r))

    @property
    def start_offset(self) -> np.ndarray:
        """``omega0 - w0``: everything random depends on the start only through it."""
        return self.omega0 - self.w0

    # -------------------------------------------------------------- utilities
    def replace(self, **changes: object) -> Problem:
        """Return a validated copy with ``changes`` applied.

        ``w0`` and ``omega0`` left at their default (``None``, the zero
        vector) stay at their default, so they follow a change of ``p``.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            valid = [f.name for f in dataclasses.fields(self)]
            raise ValueError(f"unknown Problem field(s) {sorted(unknown)}; valid: {valid}")
        for name in getattr(self, "_default_vectors", ()):
            changes.setdefault(name, None)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Scalar fields as a dict; ``w0``/``omega0`` as their norms ``|w0|``, ``|omega0 - w0|``.

        ``input_cov``/``task_cov``, where given, as lists (or a float); a task sampler as its name.
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in (*VECTOR_FIELDS, *MODEL_FIELDS)}
        for name in ("input_cov", "task_cov"):   # only where given
            value = getattr(self, name)
            if value is not None:
                out[name] = value.tolist() if isinstance(value, np.ndarray) else value
        if self.tasks is not None:
            out["tasks"] = getattr(self.tasks, "__qualname__", type(self.tasks).__name__)
        out["w0_norm"] = float(np.linalg.norm(self.w0))
        out["start_distance"] = float(np.linalg.norm(self.start_offset))
        return out

    def __eq__(self, other):
        """Compare every field, the vectors element by element."""
        if not isinstance(other, Problem):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) if f.name in ("w0", "omega0", "input_cov",
                                                                                         "task_cov")
            else getattr(self, f.name) is getattr(other, f.name) if f.name == "tasks"
            else getattr(self, f.name) == getattr(other, f.name)
            for f in dataclasses.fields(self)
        )

    __hash__ = None

