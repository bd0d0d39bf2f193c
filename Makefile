# fashionkit book: `make all` runs every notebook in order and builds the book;
# `make test` runs the test suite. Both create the virtual environment when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := all

PYTHON ?= python3
VENV   ?= .venv
BUILD  ?= build
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH_PIN := $(shell grep -E '^torch==' requirements.txt)

# Offline-friendly, deterministic runs; the notebooks import fashionkit from the checkout.
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE := 1
export PYTHONHASHSEED := 0
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

NOTEBOOKS := 01_data_audit 02_oversampling 03_train_top 04_train_bottom 05_tta_eval 06_error_gallery \
             07_autoencoder_recommend
NB_DIR    := $(BUILD)/nb
ART_DIR   := $(abspath $(BUILD))/artifacts
# the same folder as seen from notebooks/ (papermill's cwd), so the book shows no machine's absolute path
ART_NB    := $(shell realpath -m --relative-to=notebooks $(BUILD))/artifacts
EXECUTED  := $(addprefix $(NB_DIR)/,$(addsuffix .ipynb,$(NOTEBOOKS)))
# book/pages, book/tags, the serve wing (cli, deploy, export, graphs, bench), train_gpu and lever_study only render
# the book / serve the shell / time it / train the GPU profile / study a lever: editing them reruns no notebook
# (the deployed graphs, which chapter 5 times, depend on the serve wing below).
PKG       := $(filter-out fashionkit/book/pages.py fashionkit/book/tags.py fashionkit/serve/%.py fashionkit/__main__.py \
             fashionkit/training/train_gpu.py fashionkit/studies/lever_study.py,$(wildcard fashionkit/*.py fashionkit/*/*.py)) \
             params/splits.csv
BOOK_HTML := $(BUILD)/book/_build/html/index.html
DEPLOYED  := $(ART_DIR)/deploy/deploy.json

.PHONY: all venv data notebooks deploy book test bench lab clean train-gpu

all: notebooks deploy book

venv: $(STAMP)
# torch goes first and alone: its pin selects the CPU wheel where one is on disk, and
# the same pin in requirements.txt keeps later packages from replacing it.  pip's byte-compiling
# runs on one core (about a minute here): it is skipped (--no-compile) and done after, on every
# core.  A few packages ship files that are not meant to compile; compileall reports them and
# pip ignores them the same way, hence `|| true`.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile $(TORCH_PIN)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null || true
	touch $@

# Download and convert the public originals unless a prepared data root exists.
data: $(STAMP)
	$(PY) -m fashionkit.data.fetch --data-dir "$$($(PY) -c 'from fashionkit.data.sources import default_data_dir as d; print(d())')"

notebooks: $(EXECUTED)

# An executed notebook depends on its source, its params, the package, and (below) its
# upstream notebooks; an unchanged step is skipped on the next `make all`.
$(NB_DIR)/%.ipynb: notebooks/%.ipynb params/%.yaml $(PKG) $(STAMP) | data
	mkdir -p $(NB_DIR) $(ART_DIR)/$*
	$(PY) -m papermill $< $(@:.ipynb=.partial.ipynb) -f params/$*.yaml -p artifacts_dir $(ART_NB)/$* \
		--cwd notebooks -k python3 --log-output
	mv $(@:.ipynb=.partial.ipynb) $@

# Upstream artifacts: each chapter reads what the ones before it wrote.
$(NB_DIR)/02_oversampling.ipynb: $(NB_DIR)/01_data_audit.ipynb
$(NB_DIR)/03_train_top.ipynb: $(NB_DIR)/02_oversampling.ipynb
$(NB_DIR)/04_train_bottom.ipynb: $(NB_DIR)/02_oversampling.ipynb $(NB_DIR)/03_train_top.ipynb
$(NB_DIR)/05_tta_eval.ipynb: $(NB_DIR)/03_train_top.ipynb $(NB_DIR)/04_train_bottom.ipynb $(DEPLOYED)  # chapter 5 times the deployed graphs
$(NB_DIR)/06_error_gallery.ipynb: $(NB_DIR)/05_tta_eval.ipynb params/blind_reannotation.csv
$(NB_DIR)/07_autoencoder_recommend.ipynb: $(NB_DIR)/03_train_top.ipynb $(NB_DIR)/04_train_bottom.ipynb

# The command line's graphs (fashionkit.serve.deploy): each model of chapters 3-4 whole and the garment segmenter,
# exported to ONNX once, so `python -m fashionkit predict` reads photos without importing torch.
deploy: $(DEPLOYED)
$(DEPLOYED): $(NB_DIR)/03_train_top.ipynb $(NB_DIR)/04_train_bottom.ipynb $(wildcard fashionkit/serve/*.py) $(STAMP)
	$(PY) -m fashionkit.serve.deploy --artifacts $(ART_DIR)
	touch $@

book: $(BOOK_HTML)
# jupyter-book renders the executed copies (execute_notebooks: off); book/ holds the prose.
$(BOOK_HTML): $(EXECUTED) $(shell find book -type f) fashionkit/book/pages.py fashionkit/book/tags.py fashionkit/book/fonts.py $(STAMP)
	rm -rf $(BUILD)/book && mkdir -p $(BUILD)/book
	cp -r book/. $(BUILD)/book/
	$(PY) -m fashionkit.book.fonts $(BUILD)/book/_static/NanumGothic.ttf  # Korean in the pages (book/_static/korean.css)
	cp $(EXECUTED) $(BUILD)/book/
	$(PY) -m fashionkit.book.tags $(addprefix $(BUILD)/book/,$(addsuffix .ipynb,$(NOTEBOOKS)))
	$(PY) -m fashionkit.book.pages $(BUILD)/book --notebooks $(NB_DIR)
	$(VENV)/bin/jupyter-book build $(BUILD)/book -n -W --keep-going
	@echo "book: $(abspath $(BOOK_HTML))"

# Speed figures (printed, not asserted): notebook wall times, extraction, training, inference (the command
# line's graphs are exported first if missing or stale, by fashionkit.serve.deploy itself: no notebook is rerun).
bench: $(STAMP)
	$(PY) -m fashionkit.serve.bench

# First the import contracts of pyproject.toml (the wings' order, the torch-free command line), then
# two processes, one file each at a time: the notebook chain (tests/test_chain.py) runs in one
# while the other takes the remaining files.  One thread each (OMP_NUM_THREADS here, `threads: 1`
# in the chain's smoke profile): two processes of two threads on two cores took half as long again.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile

# The GPU profile (params/gpu/, fashionkit.training.train_gpu), not part of `all`: MODEL=top|bottom on NPROC GPUs
# of this machine (one process per GPU; NPROC=1 is the plain single-process run). On NNODES machines,
# run the same command on each with RDZV=host:port of the first. Writes build/artifacts/gpu/<params>/.
MODEL  ?= top
NPROC  ?= 1
NNODES ?= 1
RDZV   ?=
train-gpu: $(NB_DIR)/01_data_audit.ipynb
	$(PY) -m torch.distributed.run --nproc_per_node $(NPROC) --nnodes $(NNODES) \
		$(if $(RDZV),--rdzv-backend c10d --rdzv-endpoint $(RDZV),--standalone) \
		-m fashionkit.training.train_gpu params/gpu/$(if $(filter bottom,$(MODEL)),04_train_bottom,03_train_top).yaml

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(BUILD)
