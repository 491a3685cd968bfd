# The two commands of the README: `make demo` and `make test`.
# Both set up everything on a fresh machine with Python 3.10+, pip and make;
# re-running them when nothing changed skips the install.

PYTHON ?= python3
VENV   := .venv
# LOCK=1 (default): install the exact versions of constraints.txt, those `make test` last passed with.
# LOCK=0: install from the wide ranges of pyproject.toml (a GPU machine with its own torch, `make check-latest`).
LOCK   ?= 1
PIN    := $(if $(filter 1,$(LOCK)),-c constraints.txt)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-kit-installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
export PYTHONUNBUFFERED := 1
# No MPLBACKEND here: JupyterLab, its kernels and papermill's kernels inherit the environment,
# and a non-interactive backend there would hide every figure (ipykernel picks inline by itself).

# JupyterLab as `make lab` starts it; the browser test starts it the same way, with LAB_EXTRA
# naming its port and token. --allow-root only where it runs as root (containers, many lab machines).
LAB_ARGS = --notebook-dir=. --ip=127.0.0.1 --ServerApp.default_url=/lab/tree/nbs/index.ipynb \
           --LabApp.expose_app_in_browser=True $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_EXTRA ?=

.PHONY: demo test lint test-lessons setup install data browser export lab student clean-out readme mutate \
        site lock check-latest

demo: setup export
	$(BIN)/course-kit report run quickstart

test: setup browser lint
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 nbs  # one torch thread per worker: 2 workers on 2 cores
	$(BIN)/pytest tests

# Students read this code: ruff's formatting and its checks (one statement per line, the line length in
# pyproject.toml, unused imports). course_kit/ is formatted where it is written, in nbs/.
lint: install
	$(BIN)/ruff format --check nbs reports tests benchmarks docs .ci
	$(BIN)/ruff check nbs reports course_kit tests benchmarks docs .ci

# Every lesson, top to bottom, with Run All in JupyterLab in a real browser (make test does three of them).
test-lessons: setup browser
	COURSE_KIT_BROWSER_LESSONS=all $(BIN)/pytest tests/test_browser.py

setup: install data

# The virtual environment, the package (editable, with dev extras) and a Jupyter kernel spec named
# `course-kit` inside the venv, so papermill and JupyterLab find it. Installed again only when
# pyproject.toml, constraints.txt or LOCK change (nbdev-export rewrites pyproject.toml with the same content).
# $(VENV)/.course-kit-lock says which way it was installed (tests/test_lock.py reads it).
install:
	@want="$$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) LOCK=$(LOCK)"; \
	if [ -x $(BIN)/python ] && [ "$$(cat $(STAMP) 2>/dev/null)" = "$$want" ]; then \
	  echo "install: $(VENV) is up to date with pyproject.toml and constraints.txt (LOCK=$(LOCK))"; \
	else \
	  set -e; \
	  test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install --upgrade pip; \
	  $(BIN)/python -m pip install $(PIN) -e '.[dev]'; \
	  echo $(LOCK) > $(VENV)/.course-kit-lock; \
	  $(BIN)/python -m ipykernel install --sys-prefix --name course-kit --display-name course-kit; \
	  echo "$$want" > $(STAMP); \
	fi

# Debian packages, where apt-get is usable (as root, or with password-less sudo); otherwise a note.
APT = $(if $(filter 0,$(shell id -u)),apt-get,sudo -n apt-get)
define apt_install
	@if [ ! -e $(1) ]; then \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    ($(APT) update -qq && $(APT) install -y -qq $(2)) || echo "note: could not install $(2)"; \
	  else echo "note: $(3)"; fi; \
	fi
endef

# Fashion-MNIST ships as Debian's package dataset-fashion-mnist: the offline stand-in data.
data:
	$(call apt_install,$(FMNIST),dataset-fashion-mnist,Fashion-MNIST not found; install Debian's dataset-fashion-mnist or put its .gz files in data/FashionMNIST/raw)

# Chromium and its driver, for the real-browser test of the lessons and the report pages.
browser:
	$(call apt_install,/usr/bin/chromedriver,chromium chromium-driver,no chromium-driver: the browser tests will be skipped; install Debian's chromium and chromium-driver)

export: install
	$(BIN)/nbdev-export

lab: setup
	$(BIN)/jupyter lab $(LAB_ARGS) $(LAB_EXTRA)

# Student copies of the lessons in student/ (git-ignored): solutions replaced by stubs, checks kept.
student: install
	$(BIN)/course-kit student

# The course site: lessons (run, exercises stripped), the committed reports, the API reference. Offline.
site: install
	$(BIN)/python docs/build.py

# constraints.txt anew: a fresh environment from pyproject.toml's ranges, frozen. Then `make test`, and commit.
lock:
	@tmp="$$(mktemp -d)"; set -e; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install --quiet -e '.[dev]'; \
	"$$tmp/venv/bin/python" -m pip freeze --exclude-editable | "$$tmp/venv/bin/python" .ci/lock.py --write; \
	rm -rf "$$tmp"

# What students would get today: a clone of the last commit, installed with the newest versions the ranges
# allow (LOCK=0), and every test. Run it on a schedule; it ends with the versions that moved past the lock.
LATEST ?= /tmp/course-kit-latest
check-latest:
	rm -rf $(LATEST)
	git clone --quiet . $(LATEST)
	$(MAKE) -C $(LATEST) test LOCK=0
	$(LATEST)/$(BIN)/python -m pip freeze --exclude-editable | $(BIN)/python .ci/lock.py --diff

clean-out:
	rm -rf reports/_out

# README.md is rendered from nbs/index.ipynb (nbdev-readme needs Quarto, which is not installable offline).
readme: install
	$(BIN)/jupyter nbconvert --to markdown --log-level WARN --stdout nbs/index.ipynb > README.md

# Mutation testing (not part of `make test`; about an hour on 2 cores): mutmut changes the modules listed
# in pyproject.toml's [tool.mutmut] one small change at a time and runs the tests that cover each change;
# a change no test notices is a mutant that survived. benchmarks/mutation.py runs it and writes the score
# of each module; benchmarks/MUTANTS.md lists the survivors read and explained.
mutate: install
	$(BIN)/python -m pip install --quiet 'mutmut>=3,<4'
	$(BIN)/python benchmarks/mutation.py
