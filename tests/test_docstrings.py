"""Every docstring example in the installed package runs and prints what it says (numpydoc Examples)."""
import doctest
import importlib
import pkgutil

import pytest

import linmeta

MODULES = sorted(m.name for m in pkgutil.walk_packages(linmeta.__path__, "linmeta.") if m.name != "linmeta.__main__")


@pytest.mark.parametrize("name", ["linmeta", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
