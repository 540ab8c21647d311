"""The editor registry (editing.EDITORS): what an editor needs is data on its entry, read by the sweep drivers, the
CLI and the workflow; an editor added by one entry is run by them without other changes; reading the registry (and
`goldenlayers --help`) imports no torch."""

import dataclasses

import pytest

from goldenlayers.editing import EDITORS, EditorSpec, needs_covariance
from goldenlayers.editing.rome import RomeHparams

from helpers import TEMPLATES, param_hash, records


def test_covariance_need_is_read_from_the_entry_and_the_hparams():
    assert needs_covariance("emmet", {}) and needs_covariance("emmet", {"mom2_adjustment": False})
    # the workflow passes a hparams YAML's mapping, the library an hparams object: the same answer
    assert not needs_covariance("rome", {}) and needs_covariance("rome", {"mom2_adjustment": True})
    from goldenlayers.editing.rome import RomeHparams

    assert needs_covariance("r-rome", RomeHparams(mom2_adjustment=True))
    assert not needs_covariance("r-rome", RomeHparams())


# A toy editor for the test below: R-ROME's update, computed one request at a time, written as one low-rank update
# per batch (so batching is visible in the rows).
@dataclasses.dataclass
class ToyHparams(RomeHparams):
    batch_size: int = 2


def edit_toy(model, tok, requests, hparams, layer, templates, covariance=None, *, site):
    import torch

    from goldenlayers.editing.edits import LowRankEdit, as_requests

    assert site == "mlp_output" and covariance is not None  # the entry's site and the covariance it asked for
    parts = [EDITORS["r-rome"].edit(model, tok, r, hparams, layer, templates) for r in as_requests(requests)]
    return LowRankEdit(layer=layer, left=torch.stack([p.left for p in parts]),
                       right=torch.stack([p.right for p in parts], 1), info={"steps": len(parts)})


@pytest.fixture
def toy_editor(monkeypatch):
    spec = EditorSpec("toy", "TOY", __name__, "ToyHparams", "edit_toy", covariance="always", batches=True,
                      site="mlp_output")
    monkeypatch.setitem(EDITORS, "toy", spec)
    return spec


def test_an_editor_added_by_one_entry_runs_in_both_sweeps_and_the_cli(toy_editor, tiny_llama, tiny_tokenizer,
                                                                      tmp_path):
    import torch

    from goldenlayers.cli import build_parser
    from goldenlayers.editing.covariance import KeyCovariance
    from goldenlayers.models import edited_weight
    from goldenlayers.sweep.sequential import run_sequential_sweep
    from goldenlayers.sweep.single import run_sweep

    model, tok = tiny_llama, tiny_tokenizer
    covariance = KeyCovariance(torch.eye(edited_weight(model, 1).shape[1]))
    hp = ToyHparams(v_num_grad_steps=3, v_weight_decay=0.0, clamp_norm_factor=1000.0, max_update_norm_ratio=None)
    assert needs_covariance("toy", hp) and toy_editor.batch_size(hp) == 2
    recs = records(4)
    split = {"proxy": ["s0"], "test": ["s1", "s2", "s3"]}
    before = param_hash(model)
    sweep = run_sweep(model, tok, recs, split, "toy", hp, 1, TEMPLATES, tmp_path / "sweep.parquet",
                      progress=False, covariance=covariance)
    assert list(sweep["editor"]) == ["toy"] * 4 and list(sweep["steps"]) == [1] * 4  # one request per edit
    seq = run_sequential_sweep(model, tok, recs, split, "toy", hp, 1, TEMPLATES, tmp_path / "seq.parquet",
                               n_edits=3, covariance=covariance, progress=False)
    assert list(seq["steps"]) == [2, 2, 1] and (seq["status"] == "ok").all()  # batches of batch_size 2
    assert param_hash(model) == before
    for command in ("sweep", "sequential", "templates"):
        args = build_parser().parse_args([command, "--model", "m", "--editor", "toy", "--hparams", "h", "--out", "o",
                                          *(["--records", "r", "--split", "s", "--templates", "t", "--layer", "1"]
                                            if command != "templates" else [])])
        assert args.editor == "toy"
