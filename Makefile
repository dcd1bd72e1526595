# Podium's front door. Everything runs from a local virtualenv created on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# A real Triton server for the GPU scorer's Triton tests (PyPI nvidia-pytriton pins numpy < 2: its own venv).
TRITON_VENV  := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed

.PHONY: run test lint bench stack clean venv chaos load

venv: $(STAMP)

# Re-installs when pyproject.toml changes. torch is pinned in pyproject (a local CPU build).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(TRITON_STAMP):
	@test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet --disable-pip-version-check nvidia-pytriton==0.7.0
	@touch $(TRITON_STAMP)

## make run: the embedded stack + every service; prints the gateway URL. Ctrl-C stops everything.
run: $(STAMP)
	$(VENV)/bin/podium up

## make test: the whole suite against real NATS, PostgreSQL and S3 started on free ports.
test: $(STAMP) $(TRITON_STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

## make browser: Debian's Chromium for the web page's tests (Playwright drives it; `playwright install` is not used).
.PHONY: browser
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

## make stack: only the embedded NATS, PostgreSQL and S3 (for running a service by hand).
stack: $(STAMP)
	$(PY) -m deploy.stack

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## make bench: scoring figures, ours vs the seed's method vs a memory floor, measured side by side.
bench: $(STAMP)
	$(PY) -m bench.scoring
	$(PY) -m bench.leaderboard

## make chaos: faults under flowing submissions (kill -9 of every service, NATS and PostgreSQL restarts; then a
## 3-node NATS cluster losing nodes; then a wiped JetStream store) on a
## platform of its own, then the invariants; prints a table. `make test` runs a shorter version.
chaos: $(STAMP)
	$(PY) -m bench.chaos --teams 8
	$(PY) -m bench.chaos --teams 8 --cluster
	$(PY) -m bench.chaos --teams 8 --wipe

## make load: 24 teams / 100 viewers, then 200 teams submitting and 1,000 WebSocket viewers for 5 minutes, on a
## platform of its own; prints latencies, errors and push delays against a /health reference (--quick: 30 s).
load: $(STAMP)
	$(PY) -m bench.loadgen $(LOAD_ARGS)

clean:
	rm -rf $(VENV) $(TRITON_VENV) .podium-data .pytest_cache
