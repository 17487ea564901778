"""linmeta: exact theory and fast Monte Carlo for meta-learning on Gaussian mixed linear regression.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.presets.FIG3
>>> est = lm.simulate(prob, n_runs=100, seed=0)
>>> batch = lm.sample_tasks(prob, seed=0)
>>> omega = lm.meta_train(batch, prob)
"""
from linmeta import algorithms, bounds, experiments, figures, presets, theory
from linmeta._check import CheckResult, check
from linmeta._version import __version__
from linmeta.compare import Comparison, compare
from linmeta.errors import NonFiniteResultError
from linmeta.estimate import Estimate, simulate, simulate_curve
from linmeta.loss import test_loss_given
from linmeta.maml import IllConditionedWarning, meta_train
from linmeta.mixture import Mixture
from linmeta.moments import InfiniteMomentWarning
from linmeta.optimum import Optimum, simulate_optimum
from linmeta.problem import Problem
from linmeta.sampling import TaskBatch, sample_tasks
from linmeta.sweeping import sweep
from linmeta.theory import ApproximationDomainWarning

__all__ = [
    "algorithms", "bounds", "experiments", "ApproximationDomainWarning", "Estimate", "IllConditionedWarning",
    "InfiniteMomentWarning", "NonFiniteResultError", "Problem", "TaskBatch", "meta_train", "Mixture", "presets",
    "sample_tasks", "CheckResult", "check", "Comparison", "compare", "figures", "Optimum", "simulate",
    "simulate_curve", "simulate_optimum", "sweep", "test_loss_given", "theory", "__version__",
]
