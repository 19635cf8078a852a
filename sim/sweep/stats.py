"""Aggregates over replicates: mean, standard deviation and a t-based 95% confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def describe(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """n, mean, std (ddof=1) and the 95% CI of the mean of the finite values."""
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
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def metric_columns(runs: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The numeric columns of a runs table that are metrics (not parameters or bookkeeping)."""
    skip = set(params) | NOT_METRICS
    return [c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])]


def aggregate(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy aggregates: one row per group of `by` and metric, with n, mean, std and 95% CI.

    Failed runs (a non-empty `error`) are left out of the statistics but counted in `failed`.

    Returns:
        Columns: the `by` columns, `metric`, `runs`, `failed`, `n`, `mean`, `std`, `ci_low`,
        `ci_high`, in the order the groups first appear in `runs`.

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
            stats = describe(pd.to_numeric(ok[metric], errors="coerce").to_numpy(dtype=float)) if metric in ok else describe([])
            head = {**dict(zip(by, values, strict=True)), "metric": metric, "runs": len(group), "failed": len(group) - len(ok)}
            rows.append({**head, **stats})
    columns = [*by, "metric", "runs", "failed", "n", "mean", "std", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns)
