# The two set-up commands of the README:
#   make demo   install, then run the analyzer's main job on the embedded default (a moto fleet)
#   make test   install with the dev extras, the pulumi engine, a headless Chromium and
#               asl-validator, then run the whole suite
# make browser installs Debian's chromium-headless-shell (apt-get, with sudo unless root) when
# neither chromium-headless-shell nor chromium is on PATH: the HTML report's browser test needs one.
# make asl-validator installs the pinned asl-validator (npm, needs node) under .tools/asl unless
# that version is already there: the state machine definition's test runs it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PULUMI_VERSION ?= 3.259.0
ASL_VALIDATOR_VERSION ?= 4.0.0
ASL_DIR := .tools/asl
ASL_VALIDATOR := $(ASL_DIR)/node_modules/.bin/asl-validator

.PHONY: demo test install install-dev engine browser asl-validator

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

test: engine browser asl-validator
	$(BIN)/python -m pytest --cov=stacks --cov=lambda_src --cov-branch --cov-fail-under=100 $(PYTEST_ARGS)
