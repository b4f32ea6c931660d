"""Browser tests: the real Streamlit server driven by headless Debian Chromium (Playwright).

Skipped, with the reason, when chromium (PATH, /usr/bin/chromium, or NML_CHROMIUM) or the
playwright package is missing — unless NML_REQUIRE_BROWSER=1 (CI sets it), where a missing
browser is a failure instead. Never runs `playwright install`: the browser is Debian's
chromium, nothing is downloaded.

They prove what only a browser can (the canvas, uploads, live training fragments and their
threads, KaTeX layout, pickers the browser keeps, the deep link on a cold server, the language walk
over every page, and that no request leaves the machine); what a page computes is proven by its
AppTest file in tests/pages/. Waits are on conditions, never on time.

Screenshots are taken only with NML_UPDATE_SCREENSHOTS=1 (`make screenshots`): pages to
artifacts/screenshots/ (gitignored), and the README set, downscaled, to assets/screenshots/.
A failing test leaves one screenshot of what it saw in artifacts/screenshots/FAILED-<test>.png.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the skip/fail fixture below reports it
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SHOTS = ARTIFACTS / "screenshots"
README_SHOTS = ROOT / "assets" / "screenshots"
# `make test` runs the browser tests in two processes, each with its own server and logs.
SHARD = os.environ.get("NML_TEST_SHARD", "")
SERVER_LOG = ARTIFACTS / f"browser-server{SHARD}.log"
FRESH_LOG = ARTIFACTS / f"browser-fresh-server{SHARD}.log"

# Debian's chromium; NML_CHROMIUM may name another Chromium binary (never a downloaded one).
CHROMIUM = os.environ.get("NML_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 60_000  # generous: the machine has 2 cores shared with other work
COLD_MODEL_MS = 240_000  # the first run of a page that loads a pretrained model on this server
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
README_MAX_BYTES = 250_000
SCREENSHOTS = os.environ.get("NML_UPDATE_SCREENSHOTS") == "1"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Pages by URL path, as app.py routes them (url_path of each st.Page). The default page
# lives at "/": Streamlit answers /home with a "Page not found" dialog.
PAGES = {"home": "/", "conv": "/convolution", "pooling": "/pooling", "cnn": "/cnn", "rnn": "/rnn",
         "lstm": "/lstm", "gru": "/gru", "attention": "/attention", "multihead": "/multihead",
         "positional": "/positional", "transformer": "/transformer", "playground": "/playground",
         "loss": "/loss", "backprop": "/backprop", "optimisers": "/optimisers", "knobs": "/training-knobs",
         "minilm": "/minilm", "minilm_replay": "/minilm-replay", "smollm": "/smollm",
         "smollm_inside": "/smollm-inside", "gguf": "/gguf", "quantise": "/quantisation", "prune": "/pruning",
         "roofline": "/hardware", "data_parallel": "/data-parallel",
         "errata": "/errata", "train_cnn": "/train-cnn", "train_lstm": "/train-lstm",
         "train_transformer": "/train-transformer"}

MODEL_PAGES = {"/minilm", "/minilm-replay", "/smollm", "/smollm-inside", "/gguf"}

# Counts finished script runs in the page, so a test can wait for the rerun its own action
# caused (the idle attribute alone is already "notRunning" before the rerun starts).
_RUN_COUNTER = """
window.__nmlRuns = 0; window.__nmlStates = [];
new MutationObserver((muts) => {
  for (const m of muts) {
    if (m.target.getAttribute('data-testid') !== 'stApp') continue;
    const s = m.target.getAttribute('data-test-script-state');
    window.__nmlStates.push(m.oldValue + '>' + s);
    if (s === 'notRunning' && m.oldValue === 'running') window.__nmlRuns += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""

# Display formulas (st.latex) wider than their column: KaTeX makes them scroll sideways, which
# in a screenshot, and for most readers, means cut off. A few pixels of slack for rounding.
_WIDE_FORMULAS = """() => Array.from(document.querySelectorAll('.katex-display'))
  .filter(e => e.scrollWidth > e.clientWidth + 8)
  .map(e => { const src = e.querySelector('annotation');
              return [e.scrollWidth, e.clientWidth, (src ? src.textContent : '').slice(0, 120)]; })"""

CJK = re.compile(r"[\u4e00-\u9fff]")


def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright Python package is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; see `make chromium`)"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("NML_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (NML_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


# ----- the server -----

_STARTED_LOGS: set[Path] = set()  # server logs written in this pytest run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(n: int = 6000, log_path: Path = SERVER_LOG) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return "(no server log)"


def _wait_healthy(proc: subprocess.Popen, base: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{_log_tail(log_path=log_path)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        time.sleep(0.25)
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{_log_tail(log_path=log_path)}")


@contextlib.contextmanager
def running_server(log_path: Path = SERVER_LOG):
    """`streamlit run app.py` on a free port from the repo root; yields its base URL."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless=true", "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    _STARTED_LOGS.add(log_path)
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, log_path)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(_browser_available) -> str:
    """The app server shared by the browser tests (its log: artifacts/browser-server.log)."""
    with running_server() as base:
        yield base


@pytest.fixture
def fresh_server(_browser_available) -> str:
    """A server of its own, for tests about what the first visitor after a start sees."""
    with running_server(FRESH_LOG) as base:
        yield base


# ----- the browser -----

@pytest.fixture(scope="session")
def browser(_browser_available):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    if report.failed and item.get_closest_marker("browser"):
        logs = [SERVER_LOG] + ([FRESH_LOG] if "fresh_server" in item.fixturenames else [])
        for log in logs:
            if log in _STARTED_LOGS:  # not a stale log from an earlier run
                report.sections.append((f"{log.name} (tail)", _log_tail(log_path=log)))
    return report


def new_lab(browser, base: str):
    """A fresh browser tab (= a fresh Streamlit session) on `base`, and its context."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(_RUN_COUNTER)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    lab = Lab(page, base, errors)
    page.on("request", lambda r: lab.requests.append(r.url))
    return lab, context


@pytest.fixture(scope="session")
def warm_server(server, browser) -> str:
    """Open the app's root once, so the first test doesn't also pay for the cold start
    (imports, checkpoint, dataset). What a first visitor sees on a cold server is checked
    by test_deep_link_on_fresh_server, on a server of its own."""
    helper, context = new_lab(browser, server)
    helper.open("/")
    context.close()
    return server


@pytest.fixture
def fresh_lab(fresh_server, browser):
    """A tab on a server nobody has visited yet."""
    helper, context = new_lab(browser, fresh_server)
    yield helper
    context.close()


@pytest.fixture
def lab(request, warm_server, browser):
    """A fresh browser tab (= a fresh Streamlit session) with the helpers below."""
    helper, context = new_lab(browser, warm_server)
    yield helper
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        with contextlib.suppress(Exception):
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            helper.shot(f"FAILED-{name}", full=True, force=True)
    context.close()


# ----- helpers (plain functions; the Lab object binds them to one page) -----

def runs(page) -> int:
    """How many script runs have finished in this tab."""
    return page.evaluate("window.__nmlRuns || 0")


# Layout and paint have caught up with the last change: two animation frames.
_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
# The page is settled: idle, no skeleton, every plotly chart drawn, on two polls in a row 50 ms
# apart (plotly draws after the script finishes; a widget's code may arrive a moment later; a
# live fragment that redraws every second leaves gaps longer than that).
_SETTLED = """() => {
  const ok = !!document.querySelector("[data-testid='stApp'][data-test-script-state='notRunning']")
    && !document.querySelector("[data-testid='stSkeleton']")
    && Array.from(document.querySelectorAll('.stPlotlyChart')).every(c => c.querySelector('.main-svg'));
  window.__nmlSettled = ok ? (window.__nmlSettled || 0) + 1 : 0;
  return window.__nmlSettled >= 2;
}"""


def wait_idle(page, since: int | None = None, first_run_ms: int = TIMEOUT_MS) -> None:
    """Wait until the script is idle (after run number `since`, if given) and plots are drawn.
    `first_run_ms` bounds the wait for that run (longer where a page loads a model cold)."""
    if since is not None:
        try:
            page.wait_for_function("n => (window.__nmlRuns || 0) > n", arg=since, timeout=first_run_ms)
        except Exception as e:
            states = page.evaluate("window.__nmlStates || []")
            raise AssertionError(f"no script run finished after run {since} within "
                                 f"{first_run_ms / 1000:.0f} s (script states seen: {states})") from e
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    # lazily loaded widgets show a skeleton until their code arrives, and plotly draws after the
    # script has finished: wait until the page has stayed settled for two polls
    page.evaluate("() => { window.__nmlSettled = 0; }")
    page.wait_for_function(_SETTLED, timeout=TIMEOUT_MS, polling=50)
    page.evaluate(_FRAMES)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def assert_clean(page) -> None:
    """No Streamlit exception, KaTeX error, untranslated key, traceback or error alert."""
    exc = page.locator("[data-testid='stException']")
    assert exc.count() == 0, "Streamlit exception on the page:\n" + "\n---\n".join(exc.all_inner_texts())
    katex = page.locator(".katex-error")
    if katex.count():
        details = [f"{katex.nth(i).inner_text()!r}: {katex.nth(i).get_attribute('title')}"
                   for i in range(katex.count())]
        raise AssertionError("KaTeX could not render:\n" + "\n".join(details))
    dialogs = page.locator("[role='dialog']:visible")
    assert dialogs.count() == 0, "a dialog covers the page:\n" + "\n".join(dialogs.all_inner_texts())
    alerts = page.locator("[data-testid='stAlertContentError']")
    assert alerts.count() == 0, "error message shown:\n" + "\n".join(alerts.all_inner_texts())
    text = page.locator("[data-testid='stApp']").inner_text()
    for marker in ("⟦", "Traceback"):
        assert marker not in text, f"{marker!r} on the page:\n{_around(text, marker)}"


def assert_formulas_fit(page) -> None:
    """Every display formula fits its column (at the 1280-px test viewport)."""
    wide = page.evaluate(_WIDE_FORMULAS)
    assert not wide, "formula wider than its column, so a learner sees it cut off:\n" + "\n".join(
        f"{w}px in a {c}px column: {src}" for w, c, src in wide)


def _around(text: str, marker: str, width: int = 200) -> str:
    i = text.find(marker)
    return text[max(0, i - width): i + width]


def signature(page) -> str:
    """A hash of what the main area shows: its text (formulas included), images, plotly data."""
    state = page.evaluate(
        """() => {
          const main = document.querySelector("[data-testid='stMain']");
          const imgs = Array.from(main.querySelectorAll('img')).map(i => i.src);
          const plots = Array.from(main.querySelectorAll('.js-plotly-plot'))
                          .map(p => JSON.stringify(p.data || null));
          return [main.innerText, imgs, plots];
        }"""
    )
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


class Lab:
    """One tab: open pages, act and wait for the rerun, check, screenshot, draw."""

    def __init__(self, page, base: str, errors: list[str]):
        self.page, self.base, self.errors = page, base, errors
        self.requests: list[str] = []  # every URL the tab asked for (new_lab records them)

    def foreign_requests(self) -> list[str]:
        """Requests to any host but this machine's (the app must work offline)."""
        return sorted({u for u in self.requests if u.startswith(("http:", "https:", "ws:", "wss:"))
                       and urlsplit(u).hostname not in LOCAL_HOSTS})

    # navigation and waiting
    def open(self, name_or_path: str) -> None:
        path = PAGES.get(name_or_path, name_or_path)
        self.page.goto(self.base + path)
        # a Real models page may load its model on this server first (SmolLM2: ≈15 s of CPU, far
        # more on a busy 2-core machine); once per server, as in the app
        wait_idle(self.page, since=0, first_run_ms=COLD_MODEL_MS if path in MODEL_PAGES else TIMEOUT_MS)
        radio = self.page.locator("[data-testid='stSidebarUserContent'] [role='radiogroup']")
        assert radio.count() == 1, (
            f"{path}: the shared sidebar (language switch) is missing, so app.py did not run; "
            f"navigation shows {self.nav_labels()}")
        assert_formulas_fit(self.page)  # every page a test opens: its formulas fit as it opens

    @contextlib.contextmanager
    def rerun(self):
        """`with lab.rerun(): <action>` waits for the rerun the action caused."""
        before = runs(self.page)
        yield
        wait_idle(self.page, since=before)

    def wait_idle(self, **kw) -> None:
        wait_idle(self.page, **kw)

    def type_into(self, box, text: str) -> None:
        """Replace a text box's value and submit it with Enter, like a learner, and wait for the
        rerun. Enter is pressed once the widget shows "Press Enter to apply": a press that comes
        before the widget has taken the typed value can be lost on a busy machine.

        In a text area (st.text_area) Enter only adds a newline: Streamlit applies it on
        Ctrl+Enter ("Press Ctrl+Enter to apply"), which is what is pressed there."""
        box.scroll_into_view_if_needed()
        multiline = box.evaluate("e => e.tagName === 'TEXTAREA'")
        box.fill(text)
        hint = self.page.locator("[data-testid='stMain'] [data-testid='InputInstructions']").first
        with contextlib.suppress(Exception):  # a widget may apply without showing the hint
            hint.wait_for(state="visible", timeout=5000)
        with self.rerun():
            box.press("Control+Enter" if multiline else "Enter")

    def assert_clean(self) -> None:
        assert_clean(self.page)
        assert not self.errors, "JavaScript errors:\n" + "\n".join(self.errors)

    def assert_formulas_fit(self) -> None:
        assert_formulas_fit(self.page)

    def signature(self) -> str:
        return signature(self.page)

    # reading
    def h1(self) -> str:
        h = self.page.locator("[data-testid='stMain'] h1").first
        h.wait_for(timeout=TIMEOUT_MS)
        return h.inner_text().strip()

    def nav_labels(self) -> list[str]:
        # the label only, without the icon's ligature name ("home", "grid_on")
        links = self.page.locator("[data-testid='stSidebarNavLink'] [data-testid='stMarkdownContainer']")
        return [re.sub(r"\s+", " ", s).strip() for s in links.all_inner_texts()]

    def click_nav(self, index: int) -> None:
        with self.rerun():
            self.page.locator("[data-testid='stSidebarNavLink']").nth(index).click()

    def set_language(self, label: str) -> None:
        radio = self.page.locator("[data-testid='stSidebarUserContent'] [role='radiogroup']")
        with self.rerun():
            radio.get_by_text(label, exact=True).click()

    # drawing on the streamlit-drawable-canvas
    def canvas(self):
        """The 224×224 drawing canvas, scrolled into view (CSS locators pierce its shadow root)."""
        canvases = self.page.locator("canvas")
        canvases.first.wait_for(timeout=TIMEOUT_MS)
        for i in range(canvases.count()):
            box = canvases.nth(i).bounding_box()
            if box and round(box["width"]) == 224 and round(box["height"]) == 224:
                canvas = canvases.nth(i)
                canvas.scroll_into_view_if_needed()
                self._hold_still(canvas)
                self.canvas_locator = canvas
                return canvas
        raise AssertionError("no 224×224 drawing canvas on the page")

    def _hold_still(self, locator, timeout_s: float = 10.0) -> None:
        """Wait until `locator` stops moving (a scroll or a late layout has finished): the same
        box on three reads in a row, one animation frame apart."""
        deadline = time.monotonic() + timeout_s
        last, same = None, 0
        while same < 3 and time.monotonic() < deadline:
            self.page.evaluate(_FRAMES)
            box = locator.bounding_box()
            same = same + 1 if box == last else 0
            last = box

    def canvas_box(self) -> dict:
        """The canvas's box in viewport coordinates, after scrolling it into view."""
        return self.canvas().bounding_box()

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through canvas coordinates (0..224) and wait for the rerun."""
        box = self.canvas_box()
        x0, y0 = box["x"], box["y"]
        mouse = self.page.mouse
        # fabric.js ignores a stroke that starts without a prior hover over the canvas
        mouse.move(x0 - 20, y0 - 20)
        mouse.move(x0 + points[0][0], y0 + points[0][1], steps=5)
        self._hold_still(self.canvas_locator)
        with self.rerun():
            mouse.down()
            for x, y in points[1:]:
                mouse.move(x0 + x, y0 + y, steps=2)
            mouse.up()

    def clear_canvas(self) -> None:
        """The canvas toolbar's last button (the bin) clears the drawing."""
        box = self.canvas_box()
        buttons = self.page.locator("button").filter(has=self.page.locator("svg"))
        target = None
        for i in range(buttons.count()):
            b = buttons.nth(i).bounding_box()
            # the toolbar floats just above the canvas, right-aligned
            if b and box["y"] - 60 < b["y"] < box["y"] and box["x"] < b["x"] < box["x"] + box["width"]:
                target = buttons.nth(i)
        assert target is not None, "no clear button above the canvas"
        with self.rerun():
            target.click()

    # screenshots
    def scroll_to_heading(self, text: str) -> None:
        """Scroll so the heading with this text is at the top, below Streamlit's header bar."""
        main = "[data-testid='stMain']"
        heading = self.page.locator(f"{main} h1, {main} h2, {main} h3").filter(has_text=text).first
        heading.evaluate(
            """h => { h.scrollIntoView({block: 'start'});
                     let p = h.parentElement;
                     while (p && !(p.scrollHeight > p.clientHeight &&
                                   /(auto|scroll)/.test(getComputedStyle(p).overflowY))) p = p.parentElement;
                     if (p) p.scrollTop -= 30; }""")
        self.page.evaluate(_FRAMES)

    def shot(self, name: str, full: bool = True, force: bool = False) -> Path | None:
        """Save artifacts/screenshots/<name>.png (the viewport) and <name>-full.png (whole page),
        only under NML_UPDATE_SCREENSHOTS=1 (`make screenshots`) or when `force`d (a failure)."""
        if not (SCREENSHOTS or force):
            return None
        SHOTS.mkdir(parents=True, exist_ok=True)
        # park the mouse where it highlights nothing (over the sidebar it shows a button)
        self.page.mouse.move(VIEWPORT["width"] // 2, 2)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        if full:
            height = self.page.evaluate(
                "() => { const m = document.querySelector(\"[data-testid='stMain']\");"
                " return m ? m.scrollHeight : document.body.scrollHeight; }")
            self.page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 20, 16000)})
            self.page.evaluate(_FRAMES)
            self.page.screenshot(path=str(SHOTS / f"{name}-full.png"))
            self.page.set_viewport_size(VIEWPORT)
            self.page.evaluate(_FRAMES)
        return path


def publish(name: str, target: str) -> None:
    """Copy artifacts/screenshots/<name>.png to assets/screenshots/<target>.png (README set),
    only when NML_UPDATE_SCREENSHOTS=1, made small enough to commit."""
    if not SCREENSHOTS:
        return
    from PIL import Image

    README_SHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(SHOTS / f"{name}.png").convert("RGB")
    out = README_SHOTS / f"{target}.png"
    for colors in (256, 128, 64):
        buf = io.BytesIO()
        image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
            .save(buf, format="PNG", optimize=True)
        if buf.tell() <= README_MAX_BYTES:
            break
    out.write_bytes(buf.getvalue())


@pytest.fixture
def publish_shot():
    return publish


@pytest.fixture
def cjk():
    return CJK
