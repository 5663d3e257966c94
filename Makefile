# The two set-up commands of the README:
#   make demo   install, then run the analyzer's main job on the embedded default (a moto fleet)
#   make test   install with the dev extras, the pulumi engine, a headless Chromium,
#               asl-validator and actionlint, run the field's checks (lint: ruff lint and format; types: mypy;
#               imports: import-linter's layers), then the whole suite
# make browser installs Debian's chromium-headless-shell (apt-get, with sudo unless root) when
# neither chromium-headless-shell nor chromium is on PATH: the HTML report's browser test needs one.
# make asl-validator installs the pinned asl-validator (npm, needs node) under .tools/asl unless
# that version is already there: the state machine definition's test runs it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The pulumi CLI pin lives in orchestrator/engine/version.py (read by the code and install-pulumi.sh).
PULUMI_VERSION ?= $(shell sed -n 's/^PINNED_VERSION = "\(.*\)"$$/\1/p' orchestrator/engine/version.py)
ASL_VALIDATOR_VERSION ?= 4.0.0
# `make test`'s coverage gates (line and branch): the stack and the scanner are covered
# entirely, the orchestrator (a CLI over the engine and AWS) at least this much.
ORCHESTRATOR_COVERAGE ?= 97
ASL_DIR := .tools/asl
ASL_VALIDATOR := $(ASL_DIR)/node_modules/.bin/asl-validator

.PHONY: demo test install install-dev engine browser asl-validator types imports lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

engine: install-dev
	PYTHON=$(BIN)/python PULUMI_VERSION=$(PULUMI_VERSION) orchestrator/engine/install-pulumi.sh

demo: install
	$(BIN)/ec2c scan --demo

browser:
	@if command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; then \
		echo "headless browser: $$(command -v chromium-headless-shell || command -v chromium)"; \
	else \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium-headless-shell \
		|| { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium-headless-shell; }; \
	fi

asl-validator:
	@if [ "$$($(ASL_VALIDATOR) --version 2>/dev/null)" = "$(ASL_VALIDATOR_VERSION)" ]; then \
		echo "asl-validator $(ASL_VALIDATOR_VERSION): $(ASL_VALIDATOR)"; \
	else \
		npm install --prefix $(ASL_DIR) --save-exact --no-audit --no-fund --loglevel=error \
			asl-validator@$(ASL_VALIDATOR_VERSION); \
	fi

# make types runs mypy ([tool.mypy] in pyproject.toml) over the three portions of `ec2c`, read
# through a link tree of relative symlinks under .tools/typecheck: the editable install's import
# hook is invisible to mypy. Its cache is .tools/mypy-cache.
TYPECHECK_DIR := .tools/typecheck/ec2c

types: install-dev
	@mkdir -p $(TYPECHECK_DIR)
	@ln -sfn ../../../orchestrator $(TYPECHECK_DIR)/orchestrator
	@ln -sfn ../../../stacks $(TYPECHECK_DIR)/stacks
	@ln -sfn ../../../lambda_src/compliance_scanner $(TYPECHECK_DIR)/scanner
	$(BIN)/mypy

# make imports checks the orchestrator's layers, what the scanner and the stack may import, and
# that no imports form a cycle: the contracts of [tool.importlinter] in pyproject.toml.
imports: install-dev
	$(BIN)/lint-imports --no-cache

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# make actionlint installs the pinned actionlint (go install, needs Go) under .tools/actionlint
# unless that version is already there: the generated rollout workflow's test runs it.
ACTIONLINT_VERSION ?= 1.7.12
ACTIONLINT_DIR := .tools/actionlint
ACTIONLINT := $(ACTIONLINT_DIR)/actionlint

.PHONY: actionlint
actionlint:
	@if [ "$$($(ACTIONLINT) --version 2>/dev/null | head -n 1)" = "v$(ACTIONLINT_VERSION)" ]; then \
		echo "actionlint $(ACTIONLINT_VERSION): $(ACTIONLINT)"; \
	else \
		GOBIN=$(abspath $(ACTIONLINT_DIR)) go install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION); \
	fi

test: engine browser asl-validator actionlint lint types imports
	$(BIN)/python -m pytest --cov=stacks --cov=lambda_src --cov=orchestrator --cov-branch --cov-report= $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --include='stacks/*,lambda_src/*' --fail-under=100
	$(BIN)/python -m coverage report --include='orchestrator/*' --fail-under=$(ORCHESTRATOR_COVERAGE)
