"""Tukey-fenced layer selection on hand-made scores and gradient tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from goldenlayers.selection import (
    lga_kprime_scores,
    lga_scores,
    run_lga,
    select_layer,
    tukey_fences,
    tukey_keep,
)


def test_fences_use_linear_percentiles():
    scores = [1.0, 2.0, 3.0, 4.0]  # Q1 = 1.75, Q3 = 3.25, IQR = 1.5
    assert tukey_fences(scores, k=1.0) == pytest.approx((0.25, 4.75))
    assert tukey_fences(scores, k=0.5) == pytest.approx((1.0, 4.0))


def test_outliers_on_both_sides_are_dropped():
    scores = [-50.0, 1.0, 2.0, 3.0, 2.5, 1.5, 60.0]
    keep = tukey_keep(scores, k=1.0)
    assert keep.tolist() == [False, True, True, True, True, True, False]
    result = select_layer(scores, k=1.0)
    assert result["chosen_layer"] == 3  # the high outlier (layer 6) is not chosen
    assert result["fallback"] is False
    assert result["kept"] == keep.tolist()


def test_bounds_are_inclusive():
    scores = [1.0, 2.0, 3.0, 4.0]
    assert tukey_keep(scores, k=0.5).tolist() == [True, True, True, True]  # 1.0 and 4.0 sit on the fences


def test_all_equal_keeps_everything_and_ties_go_to_lowest_layer():
    result = select_layer([3.0] * 5, k=1.0, layers=[4, 5, 6, 7, 8])
    assert result["kept"] == [True] * 5
    assert result["chosen_layer"] == 4
    assert result["fallback"] is False


def test_all_dropped_falls_back_to_argmax():
    # Two layers with k < 0.5: the fences sit strictly between the two scores.
    assert tukey_keep([0.0, 1.0], k=0.25).tolist() == [False, False]
    result = select_layer([0.0, 1.0], k=0.25, layers=[10, 11])
    assert result["fallback"] is True
    assert result["chosen_layer"] == 11
    assert result["k"] == 0.25


def test_k_changes_the_choice():
    scores = [0.0, 1.0, 2.0, 3.0, 4.0, 5.5]  # Q1 = 1.25, Q3 = 3.75: upper fence 6.25 (k=1), 5.0 (k=0.5)
    assert select_layer(scores, k=1.0)["chosen_layer"] == 5
    assert select_layer(scores, k=0.5)["chosen_layer"] == 4


def test_invalid_inputs():
    with pytest.raises(ValueError, match="finite"):
        select_layer([1.0, np.nan])
    with pytest.raises(ValueError, match="non-empty"):
        tukey_keep([])
    with pytest.raises(ValueError, match=">= 0"):
        tukey_keep([1.0, 2.0], k=-1)
    with pytest.raises(ValueError, match="layers"):
        select_layer([1.0, 2.0], layers=[0])


def grads_table() -> pd.DataFrame:
    rows = []
    for i, sid in enumerate(["a", "b", "c"]):
        for layer in range(4):
            rows.append((sid, layer, float(layer * (i + 1)), 1.0, float((layer + 1) ** 2 * (i + 1) ** 2)))
    return pd.DataFrame(rows, columns=["sample_id", "layer", "dot_old_new", "sq_norm_old", "sq_norm_new"])


def test_scores_from_table():
    df = grads_table().sample(frac=1.0, random_state=0)  # row order must not matter
    np.testing.assert_allclose(lga_scores(df, ["a", "c"]), [0.0, 4.0, 8.0, 12.0])
    np.testing.assert_allclose(lga_kprime_scores(df, ["a", "b"]), [3.0, 6.0, 9.0, 12.0])
    with pytest.raises(KeyError, match="not in the gradient table"):
        lga_scores(df, ["a", "zzz"])
    with pytest.raises(ValueError, match="duplicates"):
        lga_scores(df, ["a", "a"])
    with pytest.raises(ValueError, match="one row per"):
        lga_scores(df[~((df.sample_id == "b") & (df.layer == 2))], ["a", "b"])


def test_run_lga_is_json_ready_and_deterministic():
    df = grads_table()
    result = run_lga(df, ["a", "b", "c"], k=1.0)
    assert result["method"] == "lga"
    assert result["layers"] == [0, 1, 2, 3]
    assert result["scores"] == [0.0, 6.0, 12.0, 18.0]
    assert result["chosen_layer"] == 3
    assert result["n_samples"] == 3
    assert set(result) >= {"method", "layers", "scores", "kept", "chosen_layer", "k", "fallback", "n_samples"}
    assert json.loads(json.dumps(result)) == result
    assert run_lga(df, ["a", "b", "c"], k=1.0) == result
    assert run_lga(df, ["a"], k=1.0, method="lga_kprime")["method"] == "lga_kprime"
    with pytest.raises(ValueError, match="unknown LGA method"):
        run_lga(df, ["a"], method="salem")
