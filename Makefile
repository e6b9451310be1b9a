# Thin wrappers around the `lstmbook` command line. Every target sets up what it needs
# from nothing: the virtual environment, the packages (pinned by constraints.txt) and data.
#   make book    build the book and the published course into _build/html (from chapters/,
#                nothing executed): pages, student notebooks, the student package wheel
#   make test    run the project's tests (every tier)
#   make test-fast  the fast tier: import layers (import-linter) and the unit tests, no sandbox,
#                no book, no browser, no kernel (under 2 minutes)
#   make data    fetch, verify and prepare the poetry corpus
#   make chapters  regenerate chapters/ from solutions/ (reference run, `book` profile)
#   make grade SUBMISSIONS=DIR [COURSE=DIR] [CHAPTER=slug] [FORCE=1] [WORKERS=n] [SCHEDULER=addr] [LAYOUT=nbgrader]
#                autograde student notebooks, each in a sandbox
#   make export [COURSE=DIR]   after manual grading: final grades.csv and feedback
#   make report [COURSE=DIR]   the class report: report.html, report.csv, report-wide.csv
#   make similarity [COURSE=DIR] [CHAPTER=slug]   the similarity report of the exercise cells
#   make bench-grade   grading speed with 1 and 2 workers, and the sandbox's cost
#   make bench   chapter 4's speed ladder and the NumPy LSTM, ratios measured in one run
#   make bench-lm [PROFILE=full]   train chapter 8's poetry model, dev perplexity per epoch

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# nbgrader calls alembic (and jupyter) by name: the environment's bin must come first.
export PATH := $(BIN):$(PATH)
export PIP_CONSTRAINT := $(abspath constraints.txt)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export MPLBACKEND := Agg

STAMP := $(VENV)/.installed
LSTMBOOK := $(BIN)/lstmbook

.PHONY: setup data chapters book test test-fast grade export report similarity bench bench-lm bench-grade clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "setuptools<81" wheel
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

data: $(STAMP)
	$(LSTMBOOK) data

chapters: $(STAMP)
	$(LSTMBOOK) chapters $(if $(CHAPTER),--only $(CHAPTER))

book: $(STAMP)
	$(LSTMBOOK) book

test: $(STAMP)
	$(LSTMBOOK) data --dataset tang300
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(LSTMBOOK) data --dataset tang300
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [COURSE=DIR] [CHAPTER=slug] [FORCE=1] [WORKERS=n] [SCHEDULER=addr] [LAYOUT=nbgrader]"; exit 2; }
	$(LSTMBOOK) grade "$(SUBMISSIONS)" $(if $(COURSE),--course "$(COURSE)") $(if $(CHAPTER),--chapter $(CHAPTER)) $(if $(LAYOUT),--layout $(LAYOUT)) \
		$(if $(FORCE),--force) $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

export: $(STAMP)
	$(LSTMBOOK) export $(if $(COURSE),--course "$(COURSE)")

report: $(STAMP)
	$(LSTMBOOK) report $(if $(COURSE),--course "$(COURSE)")

similarity: $(STAMP)
	$(LSTMBOOK) similarity $(if $(COURSE),--course "$(COURSE)") $(if $(CHAPTER),--chapter $(CHAPTER))

bench-grade: $(STAMP)
	$(LSTMBOOK) data --dataset tang300
	$(LSTMBOOK) bench-grade

bench: $(STAMP)
	$(LSTMBOOK) bench $(BENCH_ARGS)

bench-lm: $(STAMP)
	$(LSTMBOOK) bench-lm --profile $(or $(PROFILE),full)

clean:
	rm -rf _build
