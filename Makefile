# LeadFlow: `make run` starts everything on embedded defaults (ARGS="--config F" for a
# settings file), `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9

.PHONY: install link run test lint bench chaos services clean fuzz messages screenshots

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@
	@$(MAKE) --no-print-directory link

install: $(STAMP)

# `leadflow` lives in .venv/bin. `link` (run by install) also puts a symlink to it in
# BINDIR when that directory is on PATH and writable, and never replaces a file that
# is not such a link; otherwise it says how to call it.
BINDIR ?= $(HOME)/.local/bin
link:
	@target="$(abspath $(BIN))/leadflow"; dest="$(BINDIR)/leadflow"; \
	case ":$$PATH:" in *":$(BINDIR):"*) onpath=1;; *) onpath=;; esac; \
	if [ -n "$$onpath" ] && [ -d "$(BINDIR)" ] && [ -w "$(BINDIR)" ] && \
	   { [ ! -e "$$dest" ] || [ -L "$$dest" ]; }; then \
	  ln -sfn "$$target" "$$dest" && echo "leadflow: linked $$dest -> $$target"; \
	else \
	  echo "leadflow: run $$target (or: source $(VENV)/bin/activate)"; \
	fi

# ARGS go to `leadflow up`: make run ARGS="--config leadflow.toml"
ARGS ?= --demo
run: install
	$(BIN)/leadflow up $(ARGS)

# Starts (and on a bare machine installs) the servers the tests talk to.
services:
	@bash scripts/ensure-services

# Two pytest workers (pytest-xdist), a test file each at a time: most tests wait on a
# broker, a database or a browser, so two halve the run on two cores. Every session
# fixture (broker, PostgreSQL database, Dovecot) is per worker. TEST_WORKERS=0 runs
# them in this one process.
TEST_WORKERS ?= 2
test: install services
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The console's screenshots in docs/ are taken by the browser tests; a plain test run
# writes them to test-artifacts/ only, this one refreshes docs/ too.
screenshots: install services
	LEADFLOW_DOC_SHOTS=1 $(BIN)/pytest -q tests/browser

lint: install
	python3 scripts/check-docs-links
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ingest connectors crm_store console leadflow tests bench
	$(BIN)/lint-imports

# Translations: re-extract the text marked for translation into messages.pot and merge
# it into every language's .po (then translate what is new). The .po files are compiled
# when loaded, so there is no .mo to build; tests/unit/test_i18n.py fails when stale.
LOCALES := ingest/contract/locales
messages: install
	$(BIN)/pybabel -q extract -F $(LOCALES)/babel.cfg --no-location --sort-output --omit-header \
		-o $(LOCALES)/messages.pot .
	$(BIN)/pybabel -q update -i $(LOCALES)/messages.pot -d $(LOCALES) -w 100 \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

# schemathesis over the console API on SQLite and PostgreSQL (scripts/fuzz-api); fails
# on any server error. Its tools live in their own venv, from requirements-fuzz.lock.
FUZZ_VENV  := .venv-fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed-$(shell cat requirements-fuzz.lock | cksum | cut -d' ' -f1)

$(FUZZ_STAMP): requirements-fuzz.lock $(STAMP)
	@test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(BIN)/uv pip install --python $(FUZZ_VENV)/bin/python -q -r requirements-fuzz.lock
	@rm -f $(FUZZ_VENV)/.installed-* && touch $@

fuzz: install services $(FUZZ_STAMP)
	bash scripts/fuzz-api

# Spam quality per category (CV and the independent holdout), counters at 1M activities,
# IMAP ingest rate, sending mail (an acknowledgement's CPU, the dispatcher's rate), email
# quote/signature split, the consumer's and the edge's CPU by component, then the
# end-to-end pipeline against the naive peer (the long one), then issue 11's targets
# (latency, burst, growth, PostgreSQL scale-out; TARGETS_ARGS=--quick: ~3 min). Results: bench/results/.
TARGETS_ARGS ?=
bench: install services
	$(BIN)/python -m bench.spam_eval
	$(BIN)/python -m bench.counters
	$(BIN)/python -m bench.journal
	$(BIN)/python -m bench.imap_ingest
	$(BIN)/python -m bench.outbound_mail
	$(BIN)/python -m bench.email_split
	$(BIN)/python -m bench.consumer_cpu
	$(BIN)/python -m bench.edge_cpu
	$(BIN)/python -m bench.steady --rate 100 --seconds 300 --out bench/results/steady.json
	$(BIN)/python -m bench.e2e
	$(BIN)/python -m bench.targets $(TARGETS_ARGS)

# Fault trials: kill -9, broker and database outages, poison inputs, under load; prints
# accepted inquiries lost and duplicated per trial. CHAOS_ARGS=--quick: the reduced CI run.
CHAOS_ARGS ?=
chaos: install services
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) $(FUZZ_VENV) .leadflow .mypy_cache .ruff_cache .pytest_cache
