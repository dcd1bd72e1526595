# Podium's front door. Everything runs from local virtualenvs created on first use, installed exactly as
# uv.lock says (one lock for every extra and for the Triton venv; `make lock` refreshes it on purpose).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# uv itself, pinned, in a venv of its own (the installer is the one thing not in the lock it reads).
UV_VERSION := 0.13.9
UV_VENV    := .venv-uv
UV         := $(UV_VENV)/bin/uv
# A real Triton server for the GPU scorer's Triton tests (nvidia-pytriton pins numpy < 2: its own venv,
# from the lock's `triton` extra, which uv keeps apart from the others).
TRITON_VENV  := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
NODE_STAMP   := node_modules/.installed

.PHONY: run test lint bench stack clean venv chaos load lock

venv: $(STAMP)

$(UV):
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --frozen: install what uv.lock says, never re-resolve. torch is the lock's local CPU build.
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --extra dev
	@touch $(STAMP)

$(TRITON_STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(TRITON_VENV) $(UV) sync --frozen --python $(PYTHON) --extra triton --no-install-project
	@touch $(TRITON_STAMP)

## make lock: resolve every extra again and rewrite uv.lock (then commit it). The tests check that the two agree.
lock: $(UV)
	$(UV) lock

## make run: the embedded stack + every service; prints the gateway URL. Ctrl-C stops everything.
run: $(STAMP)
	$(VENV)/bin/podium up

## make test: the whole suite against real NATS, PostgreSQL and S3 started on free ports.
test: $(STAMP) $(TRITON_STAMP) browser bubblewrap
	$(PY) -m pytest $(PYTEST_ARGS)

## make browser: Debian's Chromium for the web page's tests (Playwright drives it; `playwright install` is not used).
.PHONY: browser
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

## make bubblewrap: Debian's bubblewrap, the sandbox of hosts' scoring programs (podium_runtime/programs).
.PHONY: bubblewrap
bubblewrap:
	@command -v bwrap >/dev/null || (apt-get update && apt-get install -y --no-install-recommends bubblewrap)

## make stack: only the embedded NATS, PostgreSQL and S3 (for running a service by hand).
stack: $(STAMP)
	$(PY) -m deploy.stack

## make lint: ruff, the type checker (basedpyright: strict on proto and podium_runtime, basic elsewhere; see
## pyproject.toml) and ESLint on the web page's modules (eslint.config.js). Each runs even when one before it
## fails; the target fails if any of them found something.
lint: $(STAMP) $(NODE_STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/basedpyright --pythonpath $(PY) || status=1; \
	node_modules/.bin/eslint || status=1; \
	exit $$status

# The JS linter, exactly as package-lock.json says, into node_modules (npm's registry; no build step).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

## make bench: scoring figures, ours vs the seed's method vs a memory floor, measured side by side; CSV scoring
## against the script a host writes today (pandas, merge, sklearn).
bench: $(STAMP) bubblewrap
	$(PY) -m bench.scoring
	$(PY) -m bench.masks
	$(PY) -m bench.csv_scoring
	$(PY) -m bench.leaderboard
	$(PY) -m bench.masks_decode
	$(PY) -m bench.programs

## make chaos: faults under flowing submissions (kill -9 of every service, NATS and PostgreSQL restarts; then a
## 3-node NATS cluster losing nodes; then a wiped JetStream store) on a
## platform of its own, then the invariants; prints a table. `make test` runs a shorter version.
chaos: $(STAMP)
	$(PY) -m bench.chaos --teams 8
	$(PY) -m bench.chaos --teams 8 --cluster
	$(PY) -m bench.chaos --teams 8 --wipe

## make load: 24 teams / 100 viewers, then 200 teams submitting and 1,000 WebSocket viewers for 5 minutes, then a
## connection storm (1,000 viewers connecting within 5 s while 200 teams submit), on a platform of its own with 1
## and with N gateway processes; prints latencies, errors, push delays against a /health reference and each process's
## CPU share, and writes the report and a plot to test-artifacts/load/ (--quick: 30 s steps).
## Then the scorer replicas (bench.replicas, REPLICAS_ARGS): one batch of csv submissions scored by 1, 2 and 4
## cpu_scorer processes on one durable consumer; throughput, speed-up, CPU per process, none twice, none lost.
load: $(STAMP)
	$(PY) -m bench.loadgen $(LOAD_ARGS)
	$(PY) -m bench.replicas $(REPLICAS_ARGS)

clean:
	rm -rf $(VENV) $(TRITON_VENV) $(UV_VENV) node_modules .podium-data .pytest_cache
