"""Project-wide static rules: the layers import one way, nothing evals user text, and
checkpoints are loaded without unpickling code (DESIGN.md, "Layers" and "Contracts")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "tests", ".git", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache"}


def _py_files(*dirs: str) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        path = ROOT / d
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(ROOT).parts)))
    return files


def _all_project_py() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(ROOT).parts))


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported_roots(path: Path) -> dict[str, int]:
    """Top-level package of every import in a file → the first line it appears on."""
    roots: dict[str, int] = {}
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                roots.setdefault(alias.name.split(".")[0], node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.setdefault(node.module.split(".")[0], node.lineno)
        elif isinstance(node, ast.Call) and _call_name(node) in {"import_module", "__import__"}:
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                roots.setdefault(node.args[0].value.split(".")[0], node.lineno)
    return roots


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


FORBIDDEN_IMPORTS = {
    "engine": {"streamlit", "plotly", "matplotlib", "figures", "widgets", "pages", "views", "app", "lessons"},
    "figures": {"streamlit", "widgets", "pages", "views", "app"},
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_IMPORTS))
def test_layer_imports_static(layer):
    forbidden = FORBIDDEN_IMPORTS[layer]
    bad = [f"{_rel(p)}:{line} imports {root}"
           for p in _py_files(layer)
           for root, line in _imported_roots(p).items() if root in forbidden]
    assert not bad, f"{layer}/ must not import {sorted(forbidden)}:\n" + "\n".join(bad)


def _modules(layer: str) -> list[str]:
    return [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in _py_files(layer)]


_PROBE = r"""
import importlib, json, sys
watch = ("streamlit", "plotly")
brought = {}
for name in sys.argv[1:]:
    before = {w for w in watch if w in sys.modules}
    try:
        importlib.import_module(name)
    except Exception as e:
        brought[name] = ["import failed: " + type(e).__name__ + ": " + str(e)[:200]]
        continue
    brought[name] = sorted({w for w in watch if w in sys.modules} - before)
print(json.dumps(brought))
"""


@pytest.fixture(scope="module")
def imports_brought() -> dict[str, list[str]]:
    """Import engine/ then figures/ in one fresh interpreter; what each module pulled in."""
    modules = _modules("engine") + _modules("figures")
    proc = subprocess.run([sys.executable, "-c", _PROBE, *modules], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layer,watch", [("engine", {"streamlit", "plotly"}), ("figures", {"streamlit"})])
def test_layer_imports_at_run_time(imports_brought, layer, watch):
    culprits = {name: got for name, got in imports_brought.items()
                if name.split(".")[0] == layer and (watch & set(got) or any("failed" in g for g in got))}
    assert not culprits, f"importing {layer}/ pulled in {sorted(watch)} (or failed): {culprits}"


# ----- no eval of user text ---------------------------------------------------------------

EVAL_LIKE = {"eval", "exec", "sympify", "parse_expr", "literal_eval"}
# `model.eval()` is torch's train/eval switch, not Python's eval: as a method, only these count
EVAL_LIKE_METHODS = {"sympify", "parse_expr", "literal_eval"}
EVAL_LIKE_OWNERS = {"builtins", "__builtins__"}


def _is_eval_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in EVAL_LIKE
    if isinstance(func, ast.Attribute):
        if func.attr in EVAL_LIKE_METHODS:
            return True
        return func.attr in {"eval", "exec"} and isinstance(func.value, ast.Name) and func.value.id in EVAL_LIKE_OWNERS
    return False
SAFE_PARSER = ROOT / "engine" / "formula.py"


def test_no_eval_outside_the_safe_parser():
    bad = []
    for path in _py_files("engine", "figures", "views", "widgets", "lessons", "app.py"):
        if path == SAFE_PARSER:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and _is_eval_call(node):
                bad.append(f"{_rel(path)}:{node.lineno} calls {_call_name(node)}()")
            # `from sympy import sympify as s` would hide the call: catch the import too
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in EVAL_LIKE:
                        bad.append(f"{_rel(path)}:{node.lineno} imports {alias.name}")
    assert not bad, "user text must go through engine/formula/core.py only:\n" + "\n".join(bad)


# ----- checkpoints ------------------------------------------------------------------------


def _kw(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_torch_load_uses_weights_only():
    bad = []
    for path in _all_project_py():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == "torch":
                    value = _kw(node, "weights_only")
                    if not (isinstance(value, ast.Constant) and value.value is True):
                        bad.append(f"{_rel(path)}:{node.lineno} torch.load without weights_only=True")
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                if any(alias.name == "load" for alias in node.names):
                    bad.append(f"{_rel(path)}:{node.lineno} imports torch.load by name (unchecked)")
    assert not bad, "\n".join(bad)


def test_no_pickle_loading():
    bad = []
    for path in _all_project_py():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in {"load", "loads"}
                    and isinstance(func.value, ast.Name) and func.value.id in {"pickle", "cPickle", "dill", "joblib"}):
                bad.append(f"{_rel(path)}:{node.lineno} {func.value.id}.{func.attr}")
            allow = _kw(node, "allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                bad.append(f"{_rel(path)}:{node.lineno} allow_pickle=True")
    assert not bad, "\n".join(bad)


# ----- devices ----------------------------------------------------------------------------


def test_only_engine_device_names_a_device():
    # DESIGN.md: engine/device.py is the one place that picks CUDA/MPS/CPU
    bad = []
    for path in _py_files("engine", "figures", "views", "widgets", "app.py", "scripts"):
        if path == ROOT / "engine" / "device.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and node.value in {"cuda", "mps", "cuda:0"}:
                bad.append(f"{_rel(path)}:{node.lineno} names device {node.value!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("code,flagged", [
    ("eval(text)", True), ("exec(text)", True), ("sp.sympify(text)", True), ("sympify(text)", True),
    ("parse_expr(text)", True), ("builtins.eval(text)", True), ("ast.literal_eval(text)", True),
    ("model.eval()", False), ("net.train(False).eval()", False), ("df.evaluate(x)", False),
])
def test_eval_detector(code, flagged):
    call = ast.parse(code).body[0].value
    assert _is_eval_call(call) is flagged


def test_every_file_parses():
    # a syntax error anywhere would otherwise hide from the scans above
    for path in _all_project_py():
        _tree(path)
