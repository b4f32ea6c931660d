"""Project-wide static rules (docs/ARCHITECTURE.md, "Layers", "Rooms" and "Contracts"): the layers
import one way, the engine's rooms keep to their kind, no import cycle anywhere, files stay small,
nothing evals user text, and checkpoints are loaded without unpickling code."""

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
# The safe formula reader (and the tree → SymPy builder that follows it) are the only places
# allowed to name sympify & co: they never see raw text, only the checked tree.
SAFE_PARSER = {ROOT / "engine" / "formula" / name for name in ("read.py", "build.py", "core.py")}


def test_no_eval_outside_the_safe_parser():
    bad = []
    for path in _py_files("engine", "figures", "views", "widgets", "lessons", "app.py"):
        if path in SAFE_PARSER:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and _is_eval_call(node):
                bad.append(f"{_rel(path)}:{node.lineno} calls {_call_name(node)}()")
            # `from sympy import sympify as s` would hide the call: catch the import too
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in EVAL_LIKE:
                        bad.append(f"{_rel(path)}:{node.lineno} imports {alias.name}")
    assert not bad, "user text must go through the safe reader in engine/formula/ only:\n" + "\n".join(bad)


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
    # docs/ARCHITECTURE.md: engine/device.py is the one place that picks CUDA/MPS/CPU
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


# ----- rooms ------------------------------------------------------------------------------

# The engine's rooms (docs/ARCHITECTURE.md): the maths, the models and the data are pure
# computation; threads and processes live only in the services (lab/, formula/).
PURE_ROOMS = ("engine/ops", "engine/models", "engine/data")
CONCURRENCY = {"threading", "multiprocessing", "concurrent", "subprocess", "_thread"}
ROOMS = ("ops", "models", "data", "lab", "formula")


def test_engine_has_its_rooms():
    loose = sorted(p.name for p in (ROOT / "engine").glob("*.py")
                   if p.name not in {"__init__.py", "device.py", "limits.py"})
    assert not loose, f"engine/ keeps only device.py and limits.py at the top; move {loose} into a room"
    for room in ROOMS:
        assert (ROOT / "engine" / room / "__init__.py").is_file(), room


@pytest.mark.parametrize("room", PURE_ROOMS)
def test_pure_rooms_start_no_threads_or_processes(room):
    bad = [f"{_rel(p)}:{line} imports {root}"
           for p in _py_files(room)
           for root, line in _imported_roots(p).items() if root in CONCURRENCY]
    assert not bad, f"{room}/ is pure computation:\n" + "\n".join(bad)


# ----- import cycles ----------------------------------------------------------------------

PROJECT_ROOTS = {"engine", "figures", "widgets", "views", "lessons", "app", "scripts", "benchmarks"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _all_project_py() if p.relative_to(ROOT).parts[0] in
            {"engine", "figures", "widgets", "views", "lessons", "app.py"}}


def _edges(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported by `path` anywhere in it, function-level imports included."""
    out: set[str] = set()
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    out.add(sub)  # `from engine.ops import conv`: the submodule
                elif base in modules:
                    out.add(base)
    out.discard(me)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    modules = _project_modules()
    graph = {name: _edges(path, modules) for name, path in modules.items()}
    assert not _cycles(graph), f"import cycles (function-level imports count): {_cycles(graph)}"


def test_cycle_detector_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# ----- small files ------------------------------------------------------------------------

MAX_SOURCE_LINES = 500
MAX_PAGE_LINES = 300  # aim: ~250; a page that needs more becomes a package (views/<page>/)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_source_file_over_500_lines():
    big = [f"{_rel(p)}: {_lines(p)}" for p in _all_project_py() if _lines(p) > MAX_SOURCE_LINES]
    assert not big, f"source files over {MAX_SOURCE_LINES} lines (split them by purpose):\n" + "\n".join(big)


def test_pages_are_short():
    big = [f"{_rel(p)}: {_lines(p)}" for p in _py_files("views") if _lines(p) > MAX_PAGE_LINES]
    assert not big, "page files over ~250 lines (make the page a package):\n" + "\n".join(big)


# ----- no bare tuples of more than two values ---------------------------------------------


def _wide_tuple(annotation: ast.expr | None) -> bool:
    if not (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name)
            and annotation.value.id in {"tuple", "Tuple"}):
        return False
    elts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
    is_variadic = any(isinstance(e, ast.Constant) and e.value is Ellipsis for e in elts)
    return len(elts) > 2 and not is_variadic


def test_public_functions_return_no_wide_tuples():
    """No public function returns a bare tuple of more than two values: name them (a dataclass)."""
    bad = []
    for path in _py_files("engine", "figures", "widgets", "views"):
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            if _wide_tuple(node.returns):
                bad.append(f"{_rel(path)}:{node.lineno} {node.name} -> {ast.unparse(node.returns)}")
                continue
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Return) and isinstance(sub.value, ast.Tuple)
                        and len(sub.value.elts) > 2):
                    bad.append(f"{_rel(path)}:{sub.lineno} {node.name} returns {len(sub.value.elts)} values")
                    break
    assert not bad, "\n".join(bad)


# ----- the repository stands on its own ----------------------------------------------------


def test_no_reference_outside_the_repository():
    """Design documents live in docs/: nothing sends a reader to the folder beside the checkout
    (which a person who clones the project does not have) or to a design document outside the repository."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    bad = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg", ""} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for needle in ("../" + "shared", "DESIGN" + ".md"):  # spelt in parts: this file is scanned too
            if needle in text:
                bad.append(f"{name} mentions {needle}")
    assert not bad, "\n".join(bad)
