"""The package's own layout: no module imports the package root."""
import ast
from pathlib import Path

import linmeta

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "linmeta"  # the sources, also when the tests run against an installed copy


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
    assert 'attr = "linmeta._version.__version__"' in (ROOT / "pyproject.toml").read_text()


def _imports(path, modules):
    """Return the linmeta modules ``path`` imports at module level or inside functions (names as in ``modules``).

    Imports under ``if TYPE_CHECKING:`` are left out: they name types for annotations and never run.
    """
    out = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("linmeta"):
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("linmeta")}
    return out & set(modules)


def test_no_import_cycle():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # depth-first search; a back edge to a module on the current path closes a cycle
    state, cycles = {}, []

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_workers_means_processes_and_threads_means_threads():
    import inspect

    from linmeta import figures
    seen = 0
    for func in (linmeta.sweep, figures.make, linmeta.simulate, linmeta.simulate_curve, linmeta.check):
        params = inspect.signature(func).parameters
        doc = inspect.getdoc(func)
        for name, word in (("workers", "process"), ("threads", "thread")):
            if name in params:
                seen += 1
                section = doc[doc.index(f"{name} :"):][:400]
                assert word in section.lower(), f"{func.__name__}({name}=...) is not documented as {word}es/s"
    assert "threads" in inspect.signature(figures.make).parameters and seen >= 2


def test_modules_are_small():
    """No module of the package over 450 lines, generated code aside."""
    root = Path(__file__).resolve().parents[1] / "linmeta"
    big = {str(path.relative_to(root)): n for path in root.rglob("*.py") if not path.name.startswith("_generated")
           for n in [len(path.read_text().splitlines())] if n > 450}
    assert not big, big
