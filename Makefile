# The README's two commands:
#   make lab    set up .venv (first time only) and open the course in JupyterLab
#   make test   set up whatever is missing, then run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := test,instructor,jax
STAMP  := $(VENV)/.installed
JOBS   ?= 2
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: lab test test-tf test-jax test-colab gpu-dry setup notebooks check-notebooks solutions-outputs clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $@

# Jupyter refuses to run as root (containers, some cloud VMs) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup.ipynb

# The formula check's renderer (tests/test_formulas.py): node's mathjax-full, pinned by
# tests/mathjax/package-lock.json, installed into the git-ignored tests/mathjax/node_modules.
# Without npm the check is skipped (it says why); CI has node.
MATHJAX_STAMP := tests/mathjax/node_modules/.installed
$(MATHJAX_STAMP): tests/mathjax/package.json tests/mathjax/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --prefix tests/mathjax && touch $@; \
	else echo "npm not found: tests/test_formulas.py will be skipped (it needs Node.js)"; fi

# Everything under the TensorFlow backend (unit tests, nbval on solutions/, the student
# notebooks, the grader), then the backend-agnostic unit tests again under JAX.
test: setup test-tf test-jax

# The solutions first: with --dist loadscope each notebook's nbval run is one unit of work, and the
# long ones are better started early than left for the end, when the other worker may be idle.
test-tf: setup $(MATHJAX_STAMP)
	KERAS_BACKEND=tensorflow RNN_COURSE_FAST=1 $(PYTEST) -n $(JOBS) --dist loadscope \
	  --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --junitxml=build/test-tf.xml solutions tests

# --dist loadscope here too: JAX compiles each operation anew in each process, so a test module
# kept on one worker compiles its checks once instead of once per worker.
test-jax: setup $(MATHJAX_STAMP)
	KERAS_BACKEND=jax RNN_COURSE_FAST=1 $(PYTEST) -n $(JOBS) --dist loadscope -m "not notebook and not grading and not backend_free" --junitxml=build/test-jax.xml tests

# Colab, simulated (not part of `make test`: the venv downloads about 600 MB). A fresh venv with
# what Colab ships and not the course (TensorFlow 2.19 and an older Keras, so the setup cell must
# upgrade it), `google.colab` faked, then every student notebook generated for a local wheel of
# this checkout and run top to bottom in FAST mode with nbgrader absent (tests/test_colab.py).
COLAB_VENV  := build/colab/venv
COLAB_KERAS := 3.10.0
$(COLAB_VENV)/.installed:
	rm -rf $(COLAB_VENV) && $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install -q --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install -q "tensorflow-cpu==2.19.*" "keras==$(COLAB_KERAS)" matplotlib tqdm ipykernel
	touch $@

test-colab: setup $(COLAB_VENV)/.installed
	KERAS_BACKEND=tensorflow RNN_COURSE_COLAB_VENV=$(COLAB_VENV) RNN_COURSE_COLAB_KERAS=$(COLAB_KERAS) \
	  $(PYTEST) -s -q tests/test_colab.py -k simulated

# The GPU path of notebook 06, proved on a CPU before a GPU is lent (not part of `make test`: a few
# minutes on 2 cores). The GPU-scale configuration (full corpora, full vocabulary, 512 units) with a
# few steps, run as on the lent machine: JAX, no Jupyter (`--in-process`), tables and figures kept in
# build/gpu-dry/06_language_model_showdown/ (run.json, cellNN_figK.png). Fails if a cell fails.
gpu-dry: setup
	KERAS_BACKEND=jax RNN_COURSE_FAST=0 $(BIN)/rnn-course run --in-process --mode gpu-dry --out build/gpu-dry \
	  solutions/06_language_model_showdown.ipynb

# Instructor commands
notebooks: setup                 ## regenerate notebooks/ from solutions/
	$(BIN)/rnn-course assign
check-notebooks: setup           ## fail if notebooks/ is stale or leaks solutions
	$(BIN)/rnn-course assign --check
solutions-outputs: setup         ## re-execute solutions/ in full mode so instructors read real outputs
	$(BIN)/rnn-course run --save solutions/*.ipynb

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
