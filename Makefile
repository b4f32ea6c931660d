# Two commands set everything up on a fresh machine:
#   make run   - create .venv if missing, install requirements.txt, start the app on :8501
#   make test  - the same set-up plus test tools (and Debian's chromium when missing), then every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test install install-dev chromium bench screenshots lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Headless Chromium for the browser tests: Debian's package, never a downloaded build.
chromium:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	else echo "WARNING: chromium missing and apt-get unavailable; browser tests will be skipped"; fi

run: install
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: install-dev chromium
	$(PY) -m pytest

lint: install-dev
	$(PY) -m ruff check .

bench: install
	$(PY) benchmarks/page_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
