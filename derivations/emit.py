"""Write the generated theory modules: ``python derivations/emit.py [--root DIR]``.

``TARGETS`` maps each generated file (relative to the repository root) to the
derivation module whose ``emitted_code()`` returns its complete text.  To add a
generated module, write ``derivations/<name>.py`` with ``emitted_code()`` and add
one line here.  Output is deterministic, so ``tests/test_derivations.py``
re-emits into a temporary root and diffs against the committed files.
"""
import argparse
import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

TARGETS = {
    "linmeta/theory/_generated.py": "leading_order",
    "linmeta/theory/_generated_variants.py": "variants",
    "linmeta/theory/_generated_finite.py": "finite_size",
    "linmeta/theory/_generated_anisotropic.py": "anisotropic",
}


def emit(root=ROOT):
    """Write every target under ``root``; return the written paths."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    written = []
    for target, module_name in TARGETS.items():
        code = importlib.import_module(module_name).emitted_code()
        path = pathlib.Path(root) / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(ROOT), help="repository root to write under (default: this repo)")
    args = parser.parse_args(argv)
    for path in emit(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
