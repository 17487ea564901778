"""Sphinx configuration for the linmeta documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_tools"))  # cli_docs: the parser as rendered in cli.rst

import linmeta  # noqa: E402

project = "linmeta"
author = "the linmeta authors"
copyright = "the linmeta authors"
version = release = linmeta.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the package into _static/: formulas render without a network
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinxarg.ext",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_tools"]
root_doc = "index"

# math: numbered equations carry their tag (M1, T1, ...) as the label; see theory.rst
math_numfig = False
math_eqref_format = "({number})"

# API reference: autosummary writes one page per public name (docs/api/generated/)
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
nitpicky = False

# no intersphinx: the build must not need the network

html_theme = "pydata_sphinx_theme"
html_title = f"linmeta {release}"
html_static_path = []
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
