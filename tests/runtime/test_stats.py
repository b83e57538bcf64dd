"""runtime.stats against known values: Student t quantiles (the printed tables), a
hand-computed t interval, bootstrap intervals computed by hand from the same draws, and the
per-row scores of runtime.metrics (their mean is the metric)."""
from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runtime import stats  # noqa: E402
from runtime.metrics import row_scores, score  # noqa: E402

# two-sided 95% (p = 0.975) quantiles of Student's t, as printed in every table
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 20: 2.086, 29: 2.045,
        30: 2.042, 60: 2.000, 120: 1.980}


@pytest.mark.parametrize("df, q", sorted(T975.items()))
def test_t_quantiles_match_the_table(df, q):
    assert round(stats.t_quantile(0.975, df), 3) == q


def test_t_quantile_other_levels_and_symmetry():
    assert round(stats.t_quantile(0.95, 4), 3) == 2.132  # one-sided 95%, df 4
    assert round(stats.t_quantile(0.995, 10), 3) == 3.169
    assert stats.t_quantile(0.025, 7) == pytest.approx(-stats.t_quantile(0.975, 7))
    assert stats.t_cdf(0.0, 3) == pytest.approx(0.5)
    assert stats.t_quantile(0.975, 10_000) == pytest.approx(1.960, abs=1e-3)  # the normal's
    with pytest.raises(ValueError):
        stats.t_quantile(1.0, 3)


def test_t_interval_by_hand():
    # values 0.5, 0.6, 0.7: mean 0.6, s = 0.1, se = 0.1 / sqrt(3) = 0.0577350,
    # t(0.975, 2) = 4.3026527 -> half width 0.2484138
    iv = stats.t_interval([0.5, 0.6, 0.7])
    assert iv.method == "t" and iv.n == 3 and iv.mean == pytest.approx(0.6)
    assert iv.low == pytest.approx(0.3515862, abs=1e-6) and iv.high == pytest.approx(0.8484138, abs=1e-6)
    # 2 values 1 and 3: mean 2, s = sqrt(2), se = 1, t(0.975, 1) = 12.7062
    iv = stats.t_interval([1, 3])
    assert (iv.low, iv.high) == (pytest.approx(2 - 12.7062047), pytest.approx(2 + 12.7062047))
    one = stats.t_interval([0.4])
    assert one.low is None and one.method == "none" and stats.overlap(one, iv) is None
    assert stats.mean_interval([0.5, 0.6, 0.7]) == (pytest.approx(0.6), pytest.approx(0.3515862, abs=1e-6),
                                                    pytest.approx(0.8484138, abs=1e-6))


def test_bootstrap_interval_is_the_25th_and_974th_of_1000_means():
    vals = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    rng = random.Random(0)  # the draws the function makes, redone by hand
    means = sorted(sum(vals[rng.randrange(10)] for _ in range(10)) / 10 for _ in range(1000))
    iv = stats.bootstrap_interval(vals)
    assert iv.method == "bootstrap" and iv.mean == pytest.approx(0.7)
    assert (iv.low, iv.high) == (means[25], means[974])
    assert stats.bootstrap_interval(vals) == iv  # seeded: the same every time
    assert stats.bootstrap_interval([1, 1, 1, 1]) == stats.Interval(1.0, 1.0, 1.0, 4, "bootstrap")


def test_paired_bootstrap_and_marks():
    same = stats.paired_bootstrap([1, 0, 1, 0], [1, 0, 1, 0])
    assert (same.low, same.high) == (0.0, 0.0) and stats.excludes_zero(same) is False
    better = stats.paired_bootstrap([1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0])
    assert better.mean == 1.0 and stats.excludes_zero(better) is True
    mixed = stats.paired_bootstrap([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1])
    assert mixed.low < 0 < mixed.high and stats.excludes_zero(mixed) is False
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1], [1, 0])
    a, b = stats.t_interval([0.5, 0.6, 0.7]), stats.t_interval([0.9, 0.95, 1.0])
    assert stats.overlap(a, b) is True  # [0.35, 0.85] and [0.83, 1.07]
    assert stats.overlap(a, stats.t_interval([0.9, 0.91, 0.92])) is False


@pytest.mark.parametrize("metric", ["accuracy", "exact_match", "token_f1", "answered", "mean"])
def test_row_scores_average_to_the_metric(metric):
    preds = ["Paris", "the cat sat", None, "3", {"answer": "B"}, True]
    golds = ["paris", "cat sat down", "x", "3.0", "b", "yes"]
    rows = row_scores(metric, preds, golds)
    assert len(rows) == len(preds)
    assert math.isclose(sum(rows) / len(rows), score(metric, preds, golds))


def test_a_metric_of_the_whole_column_has_no_row_scores():
    assert row_scores("macro_f1", ["a", "b"], ["a", "a"]) is None
