# OpenVPP — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean system-libs

# WeasyPrint (PDF reports) needs Pango and HarfBuzz's subsetter from the system: installed
# with apt when missing (as root, else through sudo).
SYSTEM_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
system-libs:
	@$(PYTHON) -c "import ctypes.util as u, sys; sys.exit(0 if all(u.find_library(n) for n in ('pango-1.0', 'pangoft2-1.0', 'harfbuzz-subset')) else 1)" \
	|| { echo "installing $(SYSTEM_LIBS) (WeasyPrint)"; \
	     SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	     $$SUDO apt-get install -y --no-install-recommends $(SYSTEM_LIBS) >/dev/null 2>&1 \
	     || { $$SUDO apt-get update >/dev/null 2>&1 && $$SUDO apt-get install -y --no-install-recommends $(SYSTEM_LIBS) >/dev/null; }; }

$(STAMP): pyproject.toml constraints.txt | system-libs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Migrate the embedded SQLite database, seed demo data and serve the API on 127.0.0.1:8000.
run: install
	$(BIN)/openvpp db migrate
	$(BIN)/openvpp db seed
	OPENVPP_DEMO_LIVE_MARKET=true $(BIN)/openvpp serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Install, lint, type-check, check the import contracts and run the whole test suite.
test: lint
	$(BIN)/pytest

bench: install
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
