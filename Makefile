# The two commands of the README: `make demo` and `make test`.
# Both set up everything on a fresh machine with Python 3.10+, pip and make;
# re-running them when nothing changed skips the install.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-kit-installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
export PYTHONUNBUFFERED := 1
export MPLBACKEND := Agg

.PHONY: demo test setup export lab clean-out data readme

demo: setup export
	$(BIN)/course-kit report run quickstart

test: setup
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 nbs  # one torch thread per worker: 2 workers on 2 cores
	$(BIN)/pytest tests

setup: $(STAMP) data

# The virtual environment, the package (editable, with dev extras) and a Jupyter
# kernel spec named `course-kit` inside the venv, so papermill and JupyterLab find it.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name course-kit --display-name "Python (course_kit)"
	touch $(STAMP)

# Fashion-MNIST ships as Debian's package dataset-fashion-mnist: the offline stand-in data.
data:
	@if [ ! -f $(FMNIST) ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || echo "note: could not install dataset-fashion-mnist"; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    (sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist) || echo "note: could not install dataset-fashion-mnist"; \
	  else echo "note: Fashion-MNIST not found; install Debian's dataset-fashion-mnist or put its .gz files in data/FashionMNIST/raw"; fi; \
	fi

export: $(STAMP)
	$(BIN)/nbdev-export

lab: setup
	$(BIN)/jupyter lab --notebook-dir=.

clean-out:
	rm -rf reports/_out

# README.md is rendered from nbs/index.ipynb (nbdev-readme needs Quarto, which is not installable offline).
readme: $(STAMP)
	$(BIN)/jupyter nbconvert --to markdown --log-level WARN --stdout nbs/index.ipynb > README.md
