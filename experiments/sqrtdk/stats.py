"""Statistics over seeds: intervals for the √d_k study (study.py), the LR-sensitivity number, and the
number formats of the summary and the tables.

Every number the study reports is a statistic over seeds with a 95% interval:
  * `geomean_interval`: the geometric mean and the t interval computed on log values, for positive
    quantities that span decades and whose spread over seeds is a factor rather than a difference
    (losses, gradient norms and their per-row medians, the logits' spread, max |S|, the change of S):
    their arithmetic mean would be the largest seed's value, and its t interval could reach below 0;
  * `mean_interval`: the arithmetic mean and Student's t interval, mean ± t(0.975, n−1)·s/√n, for the
    others (accuracies, fractions, entropies, the LR sensitivity, paired differences), clipped to the
    quantity's range when one is given.
With one seed there is no interval (NaN bounds).
"""

import math
from collections import defaultdict

import numpy as np


def _t_pdf(x, df):
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def _t_cdf_above_zero(x, df, steps=2000):
    """P(0 < T < x) by Simpson's rule (x > 0): enough for the 4th significant digit of the quantile."""
    h = x / steps
    total = _t_pdf(0.0, df) + _t_pdf(x, df)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * _t_pdf(i * h, df)
    return total * h / 3


_T_CACHE = {}


def t_quantile_975(df):
    """The 0.975 quantile of Student's t with df degrees of freedom (df = 1: 12.71, 4: 2.776, ∞: 1.960)."""
    if df < 1:
        return math.nan
    if df not in _T_CACHE:
        lo, hi = 0.0, 1.0
        while _t_cdf_above_zero(hi, df) < 0.475:
            hi *= 2
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _t_cdf_above_zero(mid, df) < 0.475 else (lo, mid)
        _T_CACHE[df] = 0.5 * (lo + hi)
    return _T_CACHE[df]


def cells(rows, keys):
    """Rows (dicts) grouped by the values of `keys`: {tuple of values: [rows]}, one list per cell whose
    rows are then the seeds a statistic runs over."""
    out = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return out


class Interval:
    """A statistic over n seeds with its 95% interval [lo, hi]."""

    def __init__(self, value, lo, hi, n):
        self.value, self.lo, self.hi, self.n = float(value), float(lo), float(hi), int(n)

    def __repr__(self):
        return f"Interval({self.value:.4g} [{self.lo:.4g}, {self.hi:.4g}], n={self.n})"

    def as_dict(self):
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n}


def _finite(values):
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return values[np.isfinite(values)]


def mean_interval(values, bounds=None):
    """`bounds` (lo, hi): the range the quantity lives in (e.g. (0, 1) for a fraction); the interval is
    clipped to it, since a t interval of a bounded quantity can reach past its range."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Interval(mean, lo, hi, n)


def geomean_interval(values):
    x = _finite(values)
    x = x[x > 0]
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    logs = mean_interval(np.log(x))
    return Interval(_exp(logs.value), _exp(logs.lo) if logs.n > 1 else math.nan,
                    _exp(logs.hi) if logs.n > 1 else math.nan, logs.n)


def _exp(v):
    """exp that gives inf past the float range (a run that blew up to 1e271 has an interval reaching past
    it) instead of raising OverflowError."""
    return math.exp(v) if v < 709.0 else math.inf


def lr_sensitivity(losses, init_loss):
    """Wortsman et al. 2023 (§3.2): E over the learning-rate grid of min(ℓ(η), ℓ0) − min_η ℓ(η).

    `losses`: the final loss at each learning rate of a log-uniform grid (one seed, one configuration);
    `init_loss`: ℓ0, the loss at initialisation. A diverged or non-finite run counts as ℓ0 (it learned
    nothing). 0 means every learning rate of the grid is as good as the best; larger is more sensitive."""
    ell = np.asarray([init_loss if (v is None or not np.isfinite(v)) else min(v, init_loss) for v in losses])
    return float(np.mean(ell - ell.min()))


def fmt(x):
    """3 significant digits; scientific below 0.01 and from 10 000."""
    if x is None or not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) < 0.01 or abs(x) >= 1e4:
        return f"{x:.2e}".replace("e-0", "e-").replace("e+0", "e+")
    return f"{x:.3g}"


def fmt_interval(iv):
    """'0.123 [0.101, 0.145]', or the value alone when there is no interval."""
    if iv is None or iv.n == 0:
        return "n/a"
    if iv.n == 1 or not np.isfinite(iv.lo):
        return fmt(iv.value)
    return f"{fmt(iv.value)} [{fmt(iv.lo)}, {fmt(iv.hi)}]"


def fmt3(x):
    """3 significant digits; scientific notation for small (< 0.01) or large (>= 1e4) magnitudes."""
    if x is None:
        return "n/a"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-2 or abs(x) >= 1e4:
        return f"{x:.2e}"
    text = f"{x:#.3g}"
    return text[:-1] if text.endswith(".") else text
