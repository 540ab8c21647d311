"""What every `goldenlayers` subcommand module shares: the logger, the model arguments, loading a model (threads,
start-up garbage collection) and leaving the process without teardown."""

from __future__ import annotations

import gc
import logging
import os
import sys

# OpenMP threads that spin while waiting make every op of a small model many times slower as soon as another
# process shares the cores (measured: 6x for a 135M-parameter forward on 2 busy cores). Passive waiting costs
# nothing measurable when the cores are free. Set before torch is first imported; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("goldenlayers")
DTYPES = ["float32", "float16", "bfloat16"]


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(threads, 1))


def startup_done() -> None:
    """End of start-up (imports, model loading): collect garbage again, but never look at what exists now.

    torch and transformers create hundreds of thousands of objects while importing; the cyclic collector runs
    over and over during that and finds nothing to free (measured: 1.3-2 s of a gradient job's start-up on 2
    busy cores, docs/benchmarks.md). `main` switches it off for commands that load a model; here it comes back
    with the start-up objects moved out of its sight (gc.freeze)."""
    gc.freeze()
    gc.enable()


def load_model(args):
    """The pipeline's model: --model is the model.json that prepare-model wrote."""
    from goldenlayers.models import load_prepared

    set_threads(args.threads)
    loaded = load_prepared(args.model, dtype=args.dtype, device=args.device)
    startup_done()
    return loaded


def model_args(p):
    """--model (the model to load: here the model.json of prepare-model), its dtype, device and threads."""
    p.set_defaults(loads_model=True)
    p.add_argument("--model", required=True, help="model.json written by prepare-model")
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")


def names_args(p, editor: bool = False):
    """--model-name / --dataset-name (/ --editor): the config's names, recorded in the output (the tables key
    their rows by them, not by where a file happens to lie). --model always means the model to load."""
    p.add_argument("--model-name", help="the model's name in the config (recorded)")
    p.add_argument("--dataset-name", help="the dataset's name in the config (recorded)")
    if editor:
        p.add_argument("--editor", help="the editor's name (recorded)")


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown. Every output is already written and renamed into place; what
    teardown would do is free the model and the torch/transformers module graph object by object, which took
    2-4 s per job on 2 busy cores (docs/benchmarks.md) and counts in every Snakemake job's wall time."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
