"""Formula strings in the paper's symbols: one vocabulary, a safe parser, a float evaluator, a sympy bridge.

A formula is text such as ``"sigma^2/2 * (1 + alpha_r^2 * p/n_r)"`` that a user hands to ``lm.check`` or
:mod:`linmeta.symbolic`; it is never evaluated as Python.

=================================================  ========================================================
:mod:`~linmeta._formulas.symbols`                  the one list of symbol and function names; a Problem's values
:mod:`~linmeta._formulas.grammar`                  tokenizer and recursive-descent parser to a tree of tuples
:mod:`~linmeta._formulas.evaluation`               a tree evaluated in floating point (:mod:`math`)
:mod:`~linmeta._formulas.sympy_bridge`             a tree or string to sympy, sympy to a function of a Problem
=================================================  ========================================================

Only :mod:`linmeta.symbolic` imports the sympy bridge, so ``import linmeta`` never imports sympy.
"""
