"""The quality bars: what the project's scenarios must achieve, beside the baselines.

Each bar compares one metric of the project's paths (``"ganjobs"``) with a fixed threshold or
with a baseline's value in the same run (plus an allowance), per symbol or jointly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ganjobs.evaluate.definitions import PROJECT

# (label, metric, scope, kind, reference): kind "baseline" compares with that baseline's value
# (plus an allowance), "max"/"min" with a fixed number.
BARS: tuple[tuple[str, str, str, str, Any], ...] = (
    ("EMD 1-day ≤ GARCH(1,1)-t", "emd_1d", "symbol", "baseline", ("garch-t", 0.0)),
    ("EMD 20-day ≤ GARCH(1,1)-t", "emd_20d", "symbol", "baseline", ("garch-t", 0.0)),
    ("ACF |r| ≤ stationary bootstrap", "acf_abs", "symbol", "baseline", ("bootstrap", 0.0)),
    ("Leverage ≤ GJR-GARCH-t", "leverage", "symbol", "baseline", ("gjr-garch-t", 0.0)),
    ("VaR 99% 1-day rel. error ≤ 10%", "var99_1d_relerr", "symbol", "max", 0.10),
    ("ES 97.5% 1-day rel. error ≤ 10%", "es975_1d_relerr", "symbol", "max", 0.10),
    ("VaR 99% 10-day rel. error ≤ 15%", "var99_10d_relerr", "symbol", "max", 0.15),
    ("ES 97.5% 10-day rel. error ≤ 15%", "es975_10d_relerr", "symbol", "max", 0.15),
    ("Discriminative ≤ GARCH(1,1)-t", "discriminative", "joint", "baseline", ("garch-t", 0.0)),
    ("Copy rate ≤ 1%", "copy_rate", "joint", "max", 0.01),
    ("DCR ratio ≥ 0.8", "dcr_ratio", "joint", "min", 0.8),
    ("Correlation error ≤ bootstrap + 0.05", "corr_error", "joint", "baseline",
     ("bootstrap", 0.05)),
)


def _value(models: Mapping[str, Any], model: str, scope: str, metric: str) -> float | None:
    block = models.get(model)
    if block is None:
        return None
    v = block["joint"].get(metric) if scope == "joint" else block["per_symbol"].get(
        scope, {}).get(metric)
    return None if v is None or not np.isfinite(v) else float(v)


def check_bars(metrics: Mapping[str, Any], model: str = PROJECT) -> list[dict[str, Any]]:
    """The quality bars for ``model``: one row per (bar, symbol or ``joint``).

    Works on a :func:`compute_metrics` result or any dict of the same ``models`` layout
    (the benchmark passes means over seeds). Per-symbol bars are checked for every symbol;
    the correlation bar only when there are several symbols. ``met`` is ``None`` when a value
    is missing.
    """
    models = metrics["models"]
    symbols = list(metrics["symbols"])
    rows = []
    for label, metric, scope, kind, ref in BARS:
        if metric == "corr_error" and len(symbols) < 2:
            continue
        for where in (symbols if scope == "symbol" else ["joint"]):
            value = _value(models, model, where, metric)
            if kind == "baseline":
                base = _value(models, ref[0], where, metric)
                threshold = None if base is None else base + ref[1]
                met = None if value is None or threshold is None else value <= threshold
            else:
                threshold = float(ref)
                if value is None:
                    met = None
                else:
                    met = value <= threshold if kind == "max" else value >= threshold
            rows.append({"bar": label, "metric": metric, "scope": where, "value": value,
                         "threshold": threshold, "met": met})
    return rows
