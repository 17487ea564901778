"""A parsed formula evaluated in floating point with :mod:`math`.

Examples
--------
>>> from linmeta._formulas.grammar import parse
>>> evaluate(parse("sigma^2/2 * (1 + alpha_r**2 * p/n_r)"), {"sigma": 1.0, "alpha_r": 0.5, "p": 4, "n_r": 2})
0.75
"""
from __future__ import annotations

import math

from linmeta._formulas.symbols import FUNCTION_NAMES

__all__ = ["FUNCTIONS", "evaluate"]

#: the functions of :data:`~linmeta._formulas.symbols.FUNCTION_NAMES` in floating point
FUNCTIONS = dict(zip(FUNCTION_NAMES, (math.sqrt, math.exp, math.log, abs), strict=True))


def evaluate(tree, values):
    """Evaluate ``tree`` in floating point with ``values`` (``{symbol name: number}``).

    Division by zero and domain errors raise ``ValueError`` naming the formula's trouble.
    """
    op = tree[0]
    try:
        if op == "num":
            return float(tree[1])
        if op == "sym":
            if tree[1] not in values:
                raise ValueError(f"formula: {tree[1]} has no value for this problem")
            return float(values[tree[1]])
        if op == "neg":
            return -evaluate(tree[1], values)
        if op == "call":
            return float(FUNCTIONS[tree[1]](evaluate(tree[2], values)))
        if op in ("+-", "*/"):
            acc = evaluate(tree[1], values)
            for sign, node in tree[2]:     # left to right, as written
                b = evaluate(node, values)
                acc = acc + b if sign == "+" else acc - b if sign == "-" else acc * b if sign == "*" else acc / b
            return acc
        a, b = evaluate(tree[1], values), evaluate(tree[2], values)
        out = a**b
        if isinstance(out, complex):
            raise ValueError(f"formula: {a!r} ** {b!r} is not real")
        return float(out)
    except ZeroDivisionError:
        raise ValueError(f"formula: division by zero at {values}") from None
    except OverflowError:
        raise ValueError(f"formula: overflow at {values}") from None
    except (ValueError, TypeError) as err:
        if str(err).startswith("formula:"):
            raise
        raise ValueError(f"formula: {err} at {values}") from None
