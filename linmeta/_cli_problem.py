"""The problem a command works on: ``--preset``, ``--set`` and ``--mixture FILE.json``."""
from __future__ import annotations

from linmeta import presets
from linmeta._cli_args import UsageError, parse_set, read_small_file

__all__ = ["MIXTURE_BYTES_MAX", "parse_mixture", "problem_from_args"]

#: largest --mixture file read (bytes)
MIXTURE_BYTES_MAX = 1 << 20


def parse_mixture(path, prob):
    """Build a :class:`~linmeta.Mixture` from a JSON file of components applied to ``prob``.

    The file holds ``{"components": [{"weight": w, "set": {field: value}}, ...]}``; each ``set``
    changes ``prob`` as ``--set`` does (a value is a number, a list of numbers, or ``null``).
    Nothing in it is evaluated.

    Raises
    ------
    UsageError
        Naming the file and what is wrong.

    Examples
    --------
    >>> import json, tempfile, linmeta as lm
    >>> spec = {"components": [{"weight": 0.7, "set": {"sigma": 0.1}},
    ...                        {"weight": 0.3, "set": {"input_cov": 0.25, "w0": 0.3}}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     json.dump(spec, f)
    >>> mix = parse_mixture(f.name, lm.presets.FIG3)
    >>> [w for w, _ in mix.components], mix.components[1][1].input_cov
    ([0.7, 0.3], 0.25)
    """
    import json

    from linmeta.mixture import Mixture

    where = f"--mixture {path}"
    raw = read_small_file(path, where, MIXTURE_BYTES_MAX, "a mixture file is a few lines of JSON")
    try:
        spec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"{where}: not JSON ({err})") from None
    comps = spec.get("components") if isinstance(spec, dict) else None
    if not isinstance(comps, list) or not comps:
        raise UsageError(f'{where}: expected {{"components": [{{"weight": w, "set": {{...}}}}, ...]}}')
    pairs = []
    for i, comp in enumerate(comps):
        if not isinstance(comp, dict) or set(comp) - {"weight", "set"} or "weight" not in comp:
            raise UsageError(f'{where}: component {i} must be {{"weight": w, "set": {{field: value}}}}; got {comp!r}')
        items = []
        for name, value in (comp.get("set") or {}).items():
            if value is None:
                text = "none"
            elif isinstance(value, list) and value and all(_is_number(v) for v in value):
                text = ",".join(repr(float(v)) for v in value)
            elif _is_number(value) or isinstance(value, str):
                text = str(value)
            else:
                raise UsageError(f"{where}: component {i}: {name} must be a number, a list of numbers or null; "
                                 f"got {value!r}")
            items.append(f"{name}={text}")
        if not _is_number(comp["weight"]):
            raise UsageError(f"{where}: component {i}: weight must be a number; got {comp['weight']!r}")
        try:
            pairs.append((float(comp["weight"]), parse_set(items, prob)))
        except UsageError as err:
            raise UsageError(f"{where}: component {i}: {err}") from None
        except ValueError as err:
            raise UsageError(f"{where}: component {i}: {err}") from None
    try:
        return Mixture(pairs)
    except ValueError as err:
        raise UsageError(f"{where}: {err}") from None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def problem_from_args(args):
    """Return the problem of ``--preset``, ``--set`` and ``--mixture``."""
    prob = parse_set(args.set, presets.PRESETS[args.preset])
    path = getattr(args, "mixture", None)
    return prob if path is None else parse_mixture(path, prob)
