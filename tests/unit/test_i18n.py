"""Every UI string and lesson section exists in English and Simplified Chinese, and every
key the code asks for exists (a missing one renders as ⟦page:key⟧ on screen)."""

from __future__ import annotations

import ast
import re
import string
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "lessons" / "ui"
LANGS = ("en", "zh")
SECTION = re.compile(r"^<!--\s*section:\s*([\w-]+)\s*-->\s*$", re.MULTILINE)
PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)(?:[!:][^{}]*)?\}(?!\})")

TOML_FILES = sorted(UI.glob("*.toml"))
EN_LESSONS = sorted((ROOT / "lessons" / "en").glob("*.md"))
# recursive: a page may be a package (views/<name>/page.py + parts), the engine has rooms
CODE_FILES = sorted([*(ROOT / "views").rglob("*.py"), *(ROOT / "widgets").rglob("*.py"), ROOT / "app.py"])
ENGINE_FILES = sorted((ROOT / "engine").rglob("*.py"))


@cache
def ui(page: str) -> dict:
    path = UI / f"{page}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


@cache
def sections(lang: str, page: str) -> list[str]:
    path = ROOT / "lessons" / lang / f"{page}.md"
    return SECTION.findall(path.read_text(encoding="utf-8")) if path.exists() else []


def _lesson_bodies(path: Path) -> dict[str, str]:
    parts = SECTION.split(path.read_text(encoding="utf-8"))
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _fail(title: str, problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{title} ({len(problems)}):\n  " + "\n  ".join(problems), pytrace=False)


# ----- the string tables themselves -------------------------------------------------------


def test_the_scans_reach_packages_and_rooms():
    """Pages that became packages and the engine's rooms are read, not only the top folders."""
    assert ROOT / "app.py" in CODE_FILES and any(p.parent == ROOT / "views" for p in CODE_FILES)
    assert any(p.parent != ROOT / "engine" for p in ENGINE_FILES), "engine/*/ not scanned"
    nested_views = [p for p in (ROOT / "views").glob("*/*.py")]
    assert all(p in CODE_FILES for p in nested_views)


def test_there_are_string_tables():
    assert (UI / "common.toml").exists()
    assert len(TOML_FILES) >= 2


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: p.name)
def test_toml_entries_have_en_and_zh(path):
    with path.open("rb") as f:
        table = tomllib.load(f)
    problems = []
    for key, entry in table.items():
        if not isinstance(entry, dict):
            problems.append(f"{key}: not a table with en/zh")
            continue
        for lang in LANGS:
            value = entry.get(lang)
            # whitespace is a legitimate value (a separator); "" is not: lessons.text falls back to en
            if not isinstance(value, str) or value == "":
                problems.append(f"{key}: `{lang}` missing or empty (an empty string shows the English text)")
        extra = set(entry) - set(LANGS)
        if extra:
            problems.append(f"{key}: unexpected languages {sorted(extra)}")
    _fail(f"{path.name}: incomplete entries", problems)


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: p.name)
def test_toml_placeholders_match_between_languages(path):
    with path.open("rb") as f:
        table = tomllib.load(f)
    problems = []
    for key, entry in table.items():
        if not isinstance(entry, dict):
            continue
        en, zh = (set(PLACEHOLDER.findall(entry.get(lang, "") or "")) for lang in LANGS)
        if en != zh:
            problems.append(f"{key}: en has {sorted(en)}, zh has {sorted(zh)}")
    _fail(f"{path.name}: placeholders differ between en and zh", problems)


def test_placeholder_regex():
    assert PLACEHOLDER.findall("A {H}×{W} map, {delta:.1e}, {{literal}}") == ["H", "W", "delta"]


# ----- lesson prose -----------------------------------------------------------------------


@pytest.mark.parametrize("path", EN_LESSONS, ids=lambda p: p.name)
def test_lesson_has_zh_twin_with_same_sections(path):
    twin = ROOT / "lessons" / "zh" / path.name
    assert twin.exists(), f"lessons/zh/{path.name} is missing"
    en, zh = sections("en", path.stem), sections("zh", path.stem)
    assert en, f"lessons/en/{path.name} has no `<!-- section: name -->` lines"
    missing_zh = [s for s in en if s not in zh]
    missing_en = [s for s in zh if s not in en]
    _fail(f"{path.name}: sections differ", [f"zh lacks {s}" for s in missing_zh] + [f"en lacks {s}" for s in missing_en])
    assert en == zh, f"{path.name}: sections in a different order: en {en}, zh {zh}"
    assert len(set(en)) == len(en), f"{path.name}: a section name is repeated: {en}"


def test_every_zh_lesson_has_an_en_twin():
    orphans = [p.name for p in (ROOT / "lessons" / "zh").glob("*.md") if not (ROOT / "lessons" / "en" / p.name).exists()]
    _fail("zh lessons without an en twin", orphans)


@pytest.mark.parametrize("lang", LANGS)
def test_lesson_sections_are_not_empty(lang):
    problems = [f"{lang}/{path.name}: section {name} is empty"
                for path in sorted((ROOT / "lessons" / lang).glob("*.md"))
                for name, body in _lesson_bodies(path).items() if not body]
    _fail("empty lesson sections", problems)


# ----- what the code asks for -------------------------------------------------------------


def _str(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _prefix(node) -> str | None:
    """f"lesson_{key}" → "lesson_" (a dynamic key: at least one key must start with it)."""
    if isinstance(node, ast.JoinedStr) and node.values and _str(node.values[0]) is not None:
        return node.values[0].value
    return None


def _is_T_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "T" \
        and len(node.args) == 1 and _str(node.args[0]) is not None


def _translators(tree: ast.Module) -> dict[str, set[str]]:
    """Variable name → the pages it is bound to with `name = T("page")` in this file."""
    names: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_T_call(node.value):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, set()).add(node.value.args[0].value)
    return names


def _typed_T_params(tree: ast.Module) -> set[str]:
    """Parameters annotated `t: T` (handed a translator by a caller in the same file)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in node.args.args + node.args.kwonlyargs:
                if isinstance(arg.annotation, ast.Name) and arg.annotation.id == "T":
                    out.add(arg.arg)
    return out


def _key_exists(pages: set[str], key: str) -> bool:
    return any(key in ui(p) for p in pages | {"common"})


def _prefix_exists(pages: set[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for p in pages | {"common"} for k in ui(p))


def _entry(pages: set[str], key: str) -> dict | None:
    for p in sorted(pages) + ["common"]:
        if key in ui(p):
            return ui(p)[key]
    return None


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", CODE_FILES, ids=_rel)
def test_used_keys_exist(path):
    problems = _missing_in(ast.parse(path.read_text(encoding="utf-8")), _rel(path))
    _fail(f"{_rel(path)}: strings or sections the code uses are missing", problems)


def test_checker_finds_missing_keys():
    source = (
        't = T("home")\n'
        't("title"); t("no_such_key_xyz"); t(f"zzz_{k}"); t.section("intro"); t.section("no_such_section")\n'
        't("device_badge", nam=1)\n'
        'lessons.section("home", "nope", "en")\n'
    )
    problems = "\n".join(_missing_in(ast.parse(source), "x.py"))
    assert "no_such_key_xyz" in problems and "zzz_" in problems and "no_such_section" in problems
    assert "needs ['name']" in problems and "`nope`" in problems
    assert "`title`" not in problems and "`intro`" not in problems


def _missing_in(tree: ast.Module, rel: str) -> list[str]:
    """Every translation key or lesson section the code in `tree` asks for that does not exist."""
    bound = _translators(tree)
    all_pages = set().union(*bound.values()) if bound else set()
    for name in _typed_T_params(tree):
        bound.setdefault(name, all_pages or {"common"})
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{rel}:{node.lineno}"
        # t("key", ...), or T("page")("key", ...)
        pages = None
        if isinstance(func, ast.Name) and func.id in bound:
            pages = bound[func.id]
        elif _is_T_call(func):
            pages = {func.args[0].value}
        if pages is not None and node.args:
            key, prefix = _str(node.args[0]), _prefix(node.args[0])
            if key is not None and not _key_exists(pages, key):
                problems.append(f"{where}: key `{key}` missing from {sorted(pages)}.toml and common.toml")
            elif prefix is not None and not _prefix_exists(pages, prefix):
                problems.append(f"{where}: no key starts with `{prefix}` in {sorted(pages)}.toml or common.toml")
            elif key is not None and node.keywords and all(kw.arg for kw in node.keywords):
                given = {kw.arg for kw in node.keywords}
                entry = _entry(pages, key) or {}
                for lang in LANGS:
                    try:
                        needed = _fields(entry.get(lang, ""))
                    except ValueError as e:
                        problems.append(f"{where}: `{key}` ({lang}) cannot be formatted: {e}")
                        continue
                    if needed - given:
                        problems.append(f"{where}: `{key}` ({lang}) needs {sorted(needed - given)}, "
                                        f"the call gives {sorted(given)}")
        # t.section("name")
        if isinstance(func, ast.Attribute) and func.attr == "section" and isinstance(func.value, ast.Name) \
                and func.value.id in bound and node.args and _str(node.args[0]) is not None:
            name = node.args[0].value
            for page in sorted(bound[func.value.id]):
                for lang in LANGS:
                    if name not in sections(lang, page):
                        problems.append(f"{where}: section `{name}` missing from lessons/{lang}/{page}.md")
        # lessons.section("page", "name", lang) / lessons.text("page", "key", lang)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "lessons" \
                and len(node.args) >= 2 and _str(node.args[0]) is not None and _str(node.args[1]) is not None:
            page, name = node.args[0].value, node.args[1].value
            if func.attr == "section":
                problems += [f"{where}: section `{name}` missing from lessons/{lang}/{page}.md"
                             for lang in LANGS if name not in sections(lang, page)]
            elif func.attr == "text" and not _key_exists({page}, name):
                problems.append(f"{where}: key `{name}` missing from {page}.toml and common.toml")
    return problems


def test_T_pages_have_string_tables():
    problems = []
    for path in CODE_FILES:
        for page in set().union(*_translators(ast.parse(path.read_text(encoding="utf-8"))).values() or [set()]):
            if not (UI / f"{page}.toml").exists():
                problems.append(f"{_rel(path)}: T({page!r}) but lessons/ui/{page}.toml does not exist")
    _fail("pages without a string table", problems)


# ----- engine errors have translated messages ---------------------------------------------


def _engine_error_sites() -> dict[str, list[tuple[str, set[str] | None]]]:
    """code → [(where, keyword params passed)] for every `raise XError("code", "message", **params)`."""
    sites: dict[str, list[tuple[str, set[str] | None]]] = {}
    for path in ENGINE_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("Error") \
                    and len(node.args) >= 2 and _str(node.args[0]) and re.fullmatch(r"[a-z_]+", node.args[0].value):
                params = None if any(kw.arg is None for kw in node.keywords) else {kw.arg for kw in node.keywords}
                sites.setdefault(node.args[0].value, []).append((f"{_rel(path)}:{node.lineno}", params))
    # LimitError carries name, value, low, high
    sites.setdefault("limit", []).append(("engine/limits.py", {"name", "value", "low", "high"}))
    return sites


def test_engine_error_codes_have_messages():
    all_pages = {p.stem for p in TOML_FILES}
    problems = []
    for code, raised in sorted(_engine_error_sites().items()):
        entry = _entry(all_pages, f"err_{code}")
        if entry is None:
            problems.append(f"err_{code} missing (raised at {raised[0][0]})")
            continue
        for lang in LANGS:
            needed = _fields(entry.get(lang, ""))
            for where, params in raised:
                if params is not None and needed - params:
                    problems.append(f"err_{code} ({lang}) uses {sorted(needed - params)} "
                                    f"which {where} does not pass")
    _fail("engine error codes without a usable translated message", problems)
