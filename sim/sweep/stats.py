"""Aggregates over replicates: mean, standard deviation and a 95% confidence interval of the mean.

The interval suits the metric: Wilson's score interval for proportions (liveness, accuracy,
rates, the fraction of unsafe runs), Student's t for every other metric, latency percentiles
included; and it never leaves the metric's range (no negative latency, no liveness above 1).

A sweep or comparison has a handful of seeds (3 to 10 in the shipped ones), and a percentile
bootstrap of a mean under-covers at such sizes: its interval is about z·s·sqrt((n-1)/n)/sqrt(n),
0.37 of the t interval's width at n = 3 (where it is always just [min, max]), 0.82 at n = 10,
still 0.94 at n = 30. Its one advantage, following a skewed sampling distribution, only
appears once there are many more runs than that, so the mean over seeds always gets t.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

# Two-sided 95% quantiles t_{0.975, df} for df = 1..30 (standard tables).
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
_Z975 = 1.959963984540054

# Columns of a row that are bookkeeping, not metrics.
NOT_METRICS = frozenset({"key", "point", "seed", "error"})

Method = Literal["t", "wilson"]
PROPORTIONS = frozenset({"liveness", "residue_mean", "unsafe_runs"})
"""Metrics that are fractions in [0, 1] beyond those named *_rate, *_fraction, *_accuracy."""
TRIALS = MappingProxyType({"liveness": "commands_submitted", "decision_accuracy": "decisions"})
"""The column counting the trials a proportion is a fraction of, where the runs table has it."""
_NONNEGATIVE = re.compile(
    r"(^|_)(ms|s|messages|bytes|decisions|rounds|violations|retries|throughput|per|nodes|commands|updates|questions|claims)(_|$)"
)


def is_proportion(metric: str) -> bool:
    """Whether a metric is a fraction in [0, 1] (liveness, accuracy, rates, residue)."""
    return metric in PROPORTIONS or metric.endswith(("_rate", "_fraction", "_accuracy"))


def ci_method(metric: str) -> Method:
    """Wilson for proportions, Student's t otherwise (percentiles too: see the module docstring)."""
    if is_proportion(metric):
        return "wilson"
    return "t"


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: [0, 1] for proportions, [0, inf) for times and counts, else unbounded."""
    if is_proportion(metric):
        return 0.0, 1.0
    if _NONNEGATIVE.search(metric):
        return 0.0, math.inf
    return -math.inf, math.inf


def wilson(p: float, n: int, z: float = _Z975) -> tuple[float, float]:
    """Wilson's score interval for a proportion `p` observed over `n` trials (always inside [0, 1])."""
    if n < 1 or not math.isfinite(p):
        return math.nan, math.nan
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (nan for df < 1).

    Exact table values up to 30; beyond, the Cornish-Fisher expansion around the normal
    quantile, which is accurate to better than 1e-6 there.
    """
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def describe(
    values: Sequence[float] | np.ndarray,
    method: Method = "t",
    bounds: tuple[float, float] = (-math.inf, math.inf),
    trials: float | None = None,
) -> dict[str, float]:
    """n, mean, std (ddof=1) and the 95% CI of the mean of the finite values, clipped to `bounds`.

    Args:
        values: one value per run.
        method: "t" (Student's t) or "wilson" (the values are proportions). With "wilson",
            fractions of `trials` pooled trials (e.g. liveness over every command submitted)
            get the union of Wilson's interval over the trials and the t interval over the
            runs, so that neither the binomial noise nor the spread between seeds is hidden;
            without `trials`, runs that each succeeded or failed (values 0 or 1) get Wilson's
            interval over the runs.
        bounds: the metric's range; the interval never leaves it.
        trials: for "wilson", the trials pooled over all runs (None: unknown).

    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(arr.std(ddof=1))
    half = t975(n - 1) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if method == "wilson":
        p = min(max(mean, 0.0), 1.0)
        if trials is not None and trials >= 1:
            w_low, w_high = wilson(p, int(trials))
            low, high = min(low, w_low), max(high, w_high)
        elif np.isin(arr, (0.0, 1.0)).all():
            low, high = wilson(p, n)
    low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"n": n, "mean": mean, "std": std, "ci_low": low, "ci_high": high}


def metric_columns(runs: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The numeric columns of a runs table that are metrics (not parameters or bookkeeping)."""
    skip = set(params) | NOT_METRICS
    return [c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])]


def aggregate(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy aggregates: one row per group of `by` and metric, with n, mean, std and a 95% CI (see `describe`).

    Failed runs (a non-empty `error`) are left out of the statistics but counted in `failed`.

    Returns:
        Columns: the `by` columns, `metric`, `runs`, `failed`, `n`, `mean`, `std`, `ci_low`,
        `ci_high`, `ci_method` (t or wilson), in the order the groups first appear in `runs`.

    """
    by = list(by)
    metrics = list(metrics) if metrics is not None else metric_columns(runs, by)
    failed_mask = runs["error"].notna() if "error" in runs.columns else pd.Series(False, index=runs.index)
    rows = []
    groups = runs.groupby(by, sort=False, dropna=False) if by else [((), runs)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        ok = group[~failed_mask.loc[group.index]]
        for metric in metrics:
            method = ci_method(metric)
            column = pd.to_numeric(ok[metric], errors="coerce").to_numpy(dtype=float) if metric in ok else np.array([])
            trials = None
            if method == "wilson" and TRIALS.get(metric) in ok:
                counts = pd.to_numeric(ok[TRIALS[metric]], errors="coerce")
                trials = float(counts[pd.to_numeric(ok[metric], errors="coerce").notna()].sum())
            stats = describe(column, method, metric_range(metric), trials)
            head = {**dict(zip(by, values, strict=True)), "metric": metric, "runs": len(group), "failed": len(group) - len(ok)}
            rows.append({**head, **stats, "ci_method": method})
    columns = [*by, "metric", "runs", "failed", "n", "mean", "std", "ci_low", "ci_high", "ci_method"]
    return pd.DataFrame(rows, columns=columns)
