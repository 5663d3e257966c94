# The two set-up commands of the README:
#   make demo   install, then run the analyzer's main job on the embedded default (a moto fleet)
#   make test   install with the dev extras and the pulumi engine, then run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PULUMI_VERSION ?= 3.259.0

.PHONY: demo test install install-dev engine

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

engine: install-dev
	PYTHON=$(BIN)/python PULUMI_VERSION=$(PULUMI_VERSION) orchestrator/deploy/install-pulumi.sh

demo: install
	$(BIN)/ec2c scan --demo

test: engine
	$(BIN)/python -m pytest --cov=stacks --cov=lambda_src --cov-branch --cov-fail-under=100 $(PYTEST_ARGS)
