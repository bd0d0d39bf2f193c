"""The package's layout: wings in one-way order, no import circle, no re-export, no hidden import.

The order itself is the ``wings`` contract of ``pyproject.toml`` (checked by ``lint-imports``,
the first step of ``make test``); these tests check that the check bites, and what the
contract cannot say: no import circle inside a wing, every name imported from where it is
defined, no sibling imported inside a function unless it keeps the command line torch-free.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "fashionkit"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 600

# (module, imported module): the only imports of a sibling inside a function, each because the
# command line must answer without torch, scikit-learn or matplotlib until it needs them.
INNER_IMPORTS = {
    ("fashionkit.serve.cli", "fashionkit.training.classifier"),  # torch: a bundle read in other views
    ("fashionkit.serve.cli", "fashionkit.outfits.reading"),  # torch: the same
    ("fashionkit.serve.cli", "fashionkit.outfits.recommender"),  # scikit-learn: recommend only
    ("fashionkit.serve.cli", "fashionkit.book.outfit_figures"),  # matplotlib: recommend --sheet only
    ("fashionkit.serve.cli", "fashionkit.book.style"),  # matplotlib: predict --sheet only
    ("fashionkit.serve.deploy", "fashionkit.serve.export"),  # torch: only when the graphs are stale
    ("fashionkit.vision.crops", "fashionkit.vision.augment"),  # albumentations loads torch: training views
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path: Path):
    """``(imported module, names, inside a function)`` for each fashionkit import of ``path``."""
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fashionkit"):
            assert node.level == 0, f"{path}: relative import"
            yield node.module, [a.name for a in node.names], id(node) in inner


def imported_modules(module: str, names) -> set[str]:
    """The modules an import reaches: ``from fashionkit.book import style`` reaches ``fashionkit.book.style``."""
    subs = {f"{module}.{n}" for n in names if module_path(f"{module}.{n}")}
    return subs | ({module} if len(subs) < len(names) else set())


def defined_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def module_path(name: str) -> Path | None:
    base = PROJECT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.skip("lint-imports is not installed beside this Python (make test installs it)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(exe), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_no_module_is_over_the_size_limit():
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_tests_mirror_the_wings():
    wings = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    folders = {p.name for p in (PROJECT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders == wings


def test_every_wing_says_what_it_holds_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.parent.name}: its docstring does not say what it may import"
        for module in init.parent.glob("*.py"):
            if module.stem != "__init__":
                assert f"``{module.stem}``" in doc, f"{init.parent.name}'s docstring does not name {module.stem}"


def test_no_import_circle_even_through_imports_inside_functions():
    graph = {module_name(p): {t for m, names, _ in package_imports(p) for t in imported_modules(m, names)}
             for p in MODULES}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt in graph and not state.get(nxt):
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in graph:
        if not state.get(start):
            visit(start, [start])


def test_names_are_imported_from_where_they_are_defined():
    """No re-export: ``from fashionkit.x.y import name`` finds ``name`` defined in ``x/y.py`` (or a module)."""
    sources = MODULES + sorted((PROJECT / "tests").rglob("*.py"))
    wrong = []
    for path in sources:
        for module, names, _ in package_imports(path):
            target = module_path(module)
            assert target is not None, f"{path.name}: no module {module}"
            defined = defined_names(target)
            for name in names:
                if name not in defined and module_path(f"{module}.{name}") is None:
                    wrong.append(f"{path.relative_to(PROJECT)}: {name} is not defined in {module}")
    assert not wrong, "\n".join(wrong)


def test_siblings_are_imported_inside_a_function_only_to_keep_predict_light():
    found = {(module_name(p), t) for p in MODULES for m, names, inner in package_imports(p) if inner
             for t in imported_modules(m, names)}
    assert found <= INNER_IMPORTS, f"imports hidden in functions: {sorted(found - INNER_IMPORTS)}"
    for path in MODULES:  # each keeps its one-line reason
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.col_offset and (node.module or "").startswith("fashionkit"):
                said = lines[node.lineno - 1] + lines[node.lineno - 2]
                assert "#" in said, f"{path.name}:{node.lineno}: an import inside a function without its reason"


def test_the_contracts_hold_and_a_crossing_fails_naming_the_import(tmp_path):
    kept = lint_imports(PROJECT)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "2 kept, 0 broken" in kept.stdout

    shutil.copytree(PACKAGE, tmp_path / "fashionkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    schema = tmp_path / "fashionkit" / "data" / "schema.py"
    schema.write_text(schema.read_text() + "\nfrom fashionkit.book import style  # a crossing: data < book\n")
    cli = tmp_path / "fashionkit" / "serve" / "cli.py"
    cli.write_text(cli.read_text() + "\nfrom fashionkit.vision import features  # torch at import time\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "fashionkit.data.schema -> fashionkit.book.style" in broken.stdout
    assert "fashionkit.serve.cli -> fashionkit.vision.features" in broken.stdout
