"""The package's layers, checked rather than described (docs/architecture.md says what each is for).

The import contract in pyproject.toml ([tool.importlinter]) is run by the real `lint-imports`; a copy of
the package with one upward import planted shows that it can fail.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from conftest import ROOT

PACKAGE = ROOT / "captcha_ocr"
COMMANDS = ("train", "evaluate", "predict", "generate", "compare", "learning_curve", "fit_style", "data_service",
            "ensemble")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_import_contract_is_kept():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, planted, broken", [
    ("core/errors.py", "from captcha_ocr.training import rundir", "captcha_ocr.core is not allowed to import "
                                                                    "captcha_ocr.training"),
    ("model/decode.py", "def _lazy():\n    from captcha_ocr.predict import main", "captcha_ocr.model is not allowed to "
                                                                              "import captcha_ocr.predict"),
])
def test_a_planted_upward_import_breaks_the_contract(tmp_path, module, planted, broken):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PACKAGE, tmp_path / "captcha_ocr", ignore=shutil.ignore_patterns(
        "pretrained", "recipes", "static", "__pycache__", "node_modules"))
    target = tmp_path / "captcha_ocr" / module
    target.write_text(target.read_text() + f"\n\n{planted}  # planted by the test\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert broken in " ".join(proc.stdout.split()), proc.stdout[-3000:]


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("captcha_ocr")
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    # Tarjan's strongly connected components: any with two or more modules is a circle.
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(m):
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in edges[m]:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for m in modules:
        if m not in index:
            visit(m)
    assert circles == []


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_are_thin(command):
    """A command parses arguments and prints: it defines no class, and its main is its parser's user."""
    tree = ast.parse((PACKAGE / f"{command}.py").read_text())
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert not any(isinstance(node, ast.ClassDef) for node in tree.body), "library classes live below the commands"
    assert {"build_parser", "main"} <= names


def test_every_command_module_is_in_the_contract():
    text = (ROOT / "pyproject.toml").read_text()
    top = [p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"]
    assert sorted(top) == sorted(COMMANDS)
    for command in COMMANDS:
        assert f"captcha_ocr.{command} " in text or f"captcha_ocr.{command}\"" in text, command


def test_no_file_passes_400_lines_without_saying_why():
    long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > 400 and "over 400 lines" not in doc:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert long == []
