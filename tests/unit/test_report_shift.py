"""What moved: the before/after comparisons behind `explain` and the report's evidence."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.shift import (compare_frequencies, compare_quantiles, compare_values, format_table,
                               most_different_stretch)


def test_a_location_shift_moves_every_quantile_by_the_shift():
    rng = np.random.default_rng(1)
    c = compare_values("x", rng.normal(5, 2, 5000).tolist(), rng.normal(6, 2, 5000).tolist())
    assert c.type == "numeric"
    assert all(r.change == pytest.approx(1.0, abs=0.2) for r in c.rows)
    assert c.scale == pytest.approx(2.0, rel=0.05)
    mean = next(r for r in c.summary if r.name == "mean")
    assert mean.change == pytest.approx(1.0, abs=0.15)


def test_a_spread_change_puts_the_tails_first():
    rng = np.random.default_rng(2)
    c = compare_values("x", rng.normal(0, 1, 5000).tolist(), rng.normal(0, 3, 5000).tolist())
    assert {r.name for r in c.rows[:2]} == {"p5", "p95"}
    assert abs(next(r for r in c.rows if r.name == "p50").change) < 0.2


def test_missing_values_and_text_are_counted_apart_from_the_numbers():
    c = compare_values("x", [1.0, 2.0, 3.0, None], [1.0, "oops", None, None], "numeric")
    summary = {r.name: r for r in c.summary}
    assert summary["missing"].before == 0.25 and summary["missing"].after == 0.5
    assert summary["text (wrong type)"].after == 0.25
    assert "text (wrong type)" in "\n".join(format_table(c))


def test_categories_are_ordered_by_their_change_and_new_ones_are_marked():
    c = compare_frequencies("country", {"DE": 60, "FR": 40}, {"DE": 0.3, "FR": 0.4, "BR": 0.3})
    assert [(r.label, round(r.change, 2)) for r in c.rows] == [("DE", -0.3), ("BR (new)", 0.3), ("FR", 0.0)]


def test_quantile_functions_compare_at_the_table_levels():
    levels = np.linspace(0, 1, 21)
    before = np.linspace(0, 10, 21)
    c = compare_quantiles("x", levels, before, before + 2)
    assert all(r.change == pytest.approx(2.0) for r in c.rows)


@pytest.mark.parametrize("moved", [60, 150, 400])
def test_the_most_different_stretch_is_the_part_that_moved(moved):
    rng = np.random.default_rng(moved)
    recent = list(rng.normal(0, 1, 1000 - moved)) + list(rng.normal(2, 1, moved))
    found = most_different_stretch(rng.normal(0, 1, 1000), recent, "numeric")
    assert abs(found - moved) <= 50


def test_the_most_different_stretch_of_categories():
    rng = np.random.default_rng(3)
    recent = list(rng.choice(["a", "b"], 700)) + list(rng.choice(["a", "b", "c"], 300))
    assert abs(most_different_stretch({"a": 0.5, "b": 0.5}, recent, "categorical") - 300) <= 50


def test_a_short_sample_is_taken_whole():
    assert most_different_stretch(np.arange(10.0), [1.0] * 30, "numeric") == 30
