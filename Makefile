# The two set-up commands of the README. Everything a fresh machine needs is
# installed from here: a virtualenv with pinned Python packages, and (for tests)
# pinned npm packages from the committed lockfile.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint types unit bench clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $(VENV)/.installed $@

CONFORMANCE := tests/conformance
PROVIDER    := tests/provider
CLIENTS     := tests/clients
OPENAPI     := tests/openapi
APPS        := tests/apps

# npm packages the tests need, from the committed lockfile, with Node from PyPI (>= 22).
$(CONFORMANCE)/node_modules/.installed: $(CONFORMANCE)/package-lock.json $(VENV)/.installed-test
	cd $(CONFORMANCE) && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(PROVIDER)/node_modules/.installed: $(PROVIDER)/package-lock.json $(VENV)/.installed-test
	cd $(PROVIDER) && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The third-party MCP clients tests/auth/test_real_clients.py drives (TypeScript SDK, mcp-remote).
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package-lock.json $(VENV)/.installed-test
	cd $(CLIENTS) && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GitHub's official OpenAPI description, which tests/openapi imports and bench/import_openapi.py times.
$(OPENAPI)/node_modules/.installed: $(OPENAPI)/package-lock.json $(VENV)/.installed-test
	cd $(OPENAPI) && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The MCP Apps host tests/apps/test_views_browser.py runs in Chromium (ext-apps' AppBridge, the
# TypeScript client) and esbuild, which bundles it; esbuild's postinstall is only a speed-up.
$(APPS)/node_modules/.installed: $(APPS)/package-lock.json $(VENV)/.installed-test
	cd $(APPS) && PATH="$(abspath $(BIN)):$$PATH" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests need (Chromium for the consent page test, redis-server for
# the Redis store's tests); CI runs as root.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: run 'sudo apt-get install redis-server'" >&2; exit 1; \
	  fi; }

demo: $(VENV)/.installed
	$(BIN)/mcpbuild demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check builder tests bench
	$(BIN)/ruff format --check builder tests bench

types: $(VENV)/.installed-test
	$(BIN)/mypy builder

unit: system-deps $(VENV)/.installed-test $(CONFORMANCE)/node_modules/.installed $(PROVIDER)/node_modules/.installed \
      $(CLIENTS)/node_modules/.installed $(OPENAPI)/node_modules/.installed \
      $(APPS)/node_modules/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest

test: lint types unit

bench: $(VENV)/.installed-test
	$(BIN)/python bench/validate_large.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
