"""The verify selector's pure steps (goldenlayers.selection.verify) against hand-worked rankings."""

import math

import pytest

from goldenlayers.selection.verify import best_measured, ranking, shortlist


def test_ranking_puts_the_choice_first_then_fenced_in_layers_by_score():
    # LGA-like record: layer 3 is the highest score but fenced out; the choice is layer 1
    record = {"layers": [0, 1, 2, 3, 4], "scores": [0.5, 0.9, 0.7, 9.0, 0.7],
              "kept": [True, True, True, False, True], "chosen_layer": 1}
    # 1 (chosen), then kept by score: 2 and 4 tie at 0.7 (lower layer first), 0; then the fenced-out 3
    assert ranking(record) == [1, 2, 4, 0, 3]


def test_ranking_without_fences_and_with_nan():
    record = {"layers": [5, 6, 7], "scores": [float("nan"), 0.2, 0.4], "chosen_layer": 7}
    assert ranking(record) == [7, 6, 5]


def test_shortlist_is_round_robin_without_repeats():
    lga, cma, salem = [4, 2, 9], [4, 7, 1], [12, 4, 2]
    assert shortlist([lga, cma, salem], 1) == [4]
    assert shortlist([lga, cma, salem], 3) == [4, 12, 2]      # 4, (4 again), 12, then LGA's second: 2
    assert shortlist([lga, cma, salem], 5) == [4, 12, 2, 7, 9]
    assert shortlist([[1], [1]], 3) == [1]                   # fewer layers than asked
    with pytest.raises(ValueError):
        shortlist([lga], 0)


def test_best_measured_takes_the_highest_and_breaks_ties_by_shortlist_order():
    assert best_measured({4: 0.6, 12: 0.9, 2: 0.8}, [4, 12, 2]) == 12
    assert best_measured({4: 0.9, 12: 0.9}, [12, 4]) == 12   # tie: the earlier in the shortlist
    assert best_measured({4: math.nan, 12: 0.1}, [4, 12]) == 12
    assert best_measured({}, [4, 12]) is None
