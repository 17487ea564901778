"""The package version, in one place: ``linmeta.__version__`` and every module that prints it import it from here."""

__version__ = "0.1.0"
