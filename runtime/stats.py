"""Intervals for sweep summaries (``collab sweep``): pure Python, no numpy or scipy.

* :func:`t_interval` - the mean of a few values (one per seed) and its two-sided Student-t
  interval, ``mean +- t(1 - a/2, n - 1) * s / sqrt(n)`` with ``s`` the sample standard
  deviation (n - 1 in the denominator). The t quantile is computed (:func:`t_quantile`:
  the regularized incomplete beta function, bisection), not read from a table.
* :func:`bootstrap_interval` - the percentile bootstrap interval of a mean over rows:
  ``resamples`` means of samples drawn with replacement by ``random.Random(seed)``; the
  interval is the ``floor(a/2 * B)``-th and the ``(ceil((1 - a/2) * B) - 1)``-th of the sorted
  means (0-based), e.g. the 25th and 974th of 1000.
* :func:`paired_bootstrap` - the percentile bootstrap interval of the mean per-row
  difference of two systems scored on the same rows (rows resampled together).
* :func:`overlap` - whether two intervals share a point.

Every function is deterministic: the same values and seed give the same interval.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95
RESAMPLES = 1000
BOOT_SEED = 0


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None  # None: no interval (one value)
    high: float | None
    n: int
    method: str  # "t" (over seeds), "bootstrap" (over rows), "none"

    @property
    def width(self) -> float | None:
        return None if self.low is None or self.high is None else self.high - self.low


# ---------------------------------------------------------------------- Student t
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (``t_quantile(0.975, 4)`` = 2.776...)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0 (got p={p}, df={df})")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


# ---------------------------------------------------------------------- intervals
def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean and two-sided Student-t interval over ``values`` (e.g. one per seed); one value
    has no interval."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("t_interval of no values")
    m = _mean(vals)
    if len(vals) < 2:
        return Interval(m, None, None, len(vals), "none")
    s = math.sqrt(math.fsum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    half = t_quantile(1.0 - (1.0 - level) / 2.0, len(vals) - 1) * s / math.sqrt(len(vals))
    return Interval(m, m - half, m + half, len(vals), "t")


def _percentiles(means: list[float], level: float) -> tuple[float, float]:
    means.sort()
    b, a = len(means), (1.0 - level) / 2.0
    return means[math.floor(a * b)], means[math.ceil((1.0 - a) * b) - 1]


def bootstrap_interval(values: Sequence[float], level: float = LEVEL, resamples: int = RESAMPLES,
                       seed: int = BOOT_SEED) -> Interval:
    """Mean of ``values`` (one per row) and its percentile bootstrap interval."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("bootstrap_interval of no values")
    m = _mean(vals)
    if len(vals) < 2:
        return Interval(m, None, None, len(vals), "none")
    rng, n = random.Random(seed), len(vals)
    means = [math.fsum(vals[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)]
    lo, hi = _percentiles(means, level)
    return Interval(m, lo, hi, n, "bootstrap")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], level: float = LEVEL,
                     resamples: int = RESAMPLES, seed: int = BOOT_SEED) -> Interval:
    """The mean per-row difference ``a - b`` of two systems scored on the same rows, and its
    percentile bootstrap interval (the rows resampled together)."""
    if len(a) != len(b):
        raise ValueError(f"paired_bootstrap: {len(a)} rows against {len(b)}")
    return bootstrap_interval([float(x) - float(y) for x, y in zip(a, b)], level, resamples, seed)


def overlap(x: Interval, y: Interval) -> bool | None:
    """Whether the two intervals share a point (None: one of them has no interval)."""
    if x.low is None or y.low is None:
        return None
    return x.low <= y.high and y.low <= x.high


def excludes_zero(d: Interval) -> bool | None:
    """Whether a difference's interval lies wholly on one side of 0 (None: no interval)."""
    if d.low is None:
        return None
    return d.low > 0 or d.high < 0


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the Student-t interval over ``values`` (low, high None for one value)."""
    iv = t_interval(values, level)
    return iv.mean, iv.low, iv.high
