"""linmeta: exact theory and fast Monte Carlo for meta-learning on Gaussian mixed linear regression.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.presets.FIG3
>>> est = lm.simulate(prob, n_runs=100, seed=0)
>>> batch = lm.sample_tasks(prob, seed=0)
>>> omega = lm.meta_train(batch, prob)
"""
from linmeta import presets, theory
from linmeta import algorithms, bounds, experiments
from linmeta.loss import test_loss_given
from linmeta.maml import IllConditionedWarning, meta_train
from linmeta.problem import Problem
from linmeta.sampling import TaskBatch, sample_tasks
from linmeta.estimate import Estimate, simulate, simulate_curve
from linmeta.sweep import sweep
from linmeta import figures
from linmeta._check import CheckResult, check

__version__ = "0.1.0"
__all__ = [
    "algorithms", "bounds", "experiments",
    "Estimate", "IllConditionedWarning", "Problem", "TaskBatch", "meta_train", "presets", "sample_tasks",
    "CheckResult", "check", "figures", "simulate", "simulate_curve", "sweep", "test_loss_given", "theory", "__version__",
]
