"""The package's own layout: no module imports the package root."""
import ast
from pathlib import Path

import linmeta

PACKAGE = Path(linmeta.__file__).parent


def _submodules(folder):
    return {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}


def test_no_module_imports_the_package_root():
    # ``from linmeta import presets`` names a submodule; ``from linmeta import __version__`` (or ``simulate``)
    # needs the root ``linmeta/__init__.py`` to have run, which ties every module to the whole package
    submodules = _submodules(PACKAGE)
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "linmeta" and node.level == 0:
                offenders += [f"{path.relative_to(PACKAGE)}: {a.name}" for a in node.names if a.name not in submodules]
            elif isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(PACKAGE)}: import linmeta" for a in node.names if a.name == "linmeta"]
    assert offenders == []


def test_version_has_one_home():
    from linmeta._version import __version__
    assert linmeta.__version__ == __version__
    assert 'attr = "linmeta._version.__version__"' in (PACKAGE.parent / "pyproject.toml").read_text()
