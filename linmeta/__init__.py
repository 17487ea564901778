"""linmeta: exact theory and fast Monte Carlo for meta-learning on mixed linear regression."""
from linmeta import presets, theory
from linmeta.problem import Problem

__version__ = "0.1.0"
__all__ = ["Problem", "presets", "theory", "__version__"]
