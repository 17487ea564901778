r"""Documentation sources carry no control characters: no lost backslash escape (``\t``imes, ``\f``rac, ``\r``ho).

A LaTeX command in a string without its backslash doubled (or an ``r`` prefix) turns into a control character:
``"\times"`` starts with a TAB, ``"\frac"`` with a form feed, ``"\alpha"`` with a bell, ``"\rho"`` with a
carriage return, ``"\vec"`` with a vertical tab, ``"\beta"`` with a backspace.  Checked: every ``docs/**/*.rst``,
``README.md``, and the docstrings of every Python file of the package, the derivations, the benchmarks and the
documentation tools.
"""
import ast
import glob
import os
import unicodedata

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.rst"), recursive=True)) + [os.path.join(ROOT, "README.md")]
PYTHON = sorted(p for d in ("linmeta", "derivations", "benchmarks", "docs")
                for p in glob.glob(os.path.join(ROOT, d, "**", "*.py"), recursive=True))


def control_characters(text):
    """``[(line, column, repr of the character)]`` of every control character but the newline."""
    found = []
    for n, line in enumerate(text.split("\n"), 1):
        for col, ch in enumerate(line, 1):
            if unicodedata.category(ch) == "Cc":
                found.append((n, col, repr(ch)))
    return found


def docstrings(source):
    """``[(line, docstring)]`` of the module, every class and every function in ``source``."""
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                out.append((node.body[0].lineno, doc))
    return out


def _rel(path):
    return os.path.relpath(path, ROOT)


def test_the_check_finds_what_a_lost_backslash_leaves():
    # the strings below are what Python makes of a LaTeX command without the backslash escaped
    for lost in ("\times", "\frac{a}{b}", "\alpha_t", "\rho", "\vec u", "\beta", "\text{x}"):
        assert control_characters(f"a formula: {lost}"), repr(lost)
    assert control_characters(r"\times \frac \alpha \rho \vec \beta \text") == []
    source = 'def f():\n    """Slope :math:`\\alpha_t \\times 2`."""\n'      # a docstring written without r"""
    [(line, doc)] = docstrings(source)
    assert line == 2 and [c for _, _, c in control_characters(doc)] == ["'\\x07'", "'\\t'"]


@pytest.mark.parametrize("path", TEXTS, ids=_rel)
def test_documentation_pages_have_no_control_characters(path):
    with open(path, encoding="utf-8") as fh:
        found = control_characters(fh.read())
    assert not found, f"{_rel(path)}: control characters at (line, column): {found}"


@pytest.mark.parametrize("path", PYTHON, ids=_rel)
def test_docstrings_have_no_control_characters(path):
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    found = [(line + n - 1, c) for line, doc in docstrings(source) for n, _, c in control_characters(doc)]
    assert not found, f"{_rel(path)}: control characters in docstrings at (line, character): {found}"
