"""One self-contained HTML page: the scenarios beside history and the baselines.

The figures come from :mod:`ganjobs.evaluate.figures` (base64 PNG). Every string that reaches
the page goes through :func:`html.escape`, because symbol names and URLs come from users.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganjobs.core.seeds import stream
from ganjobs.evaluate import figures
from ganjobs.evaluate.bars import BARS
from ganjobs.evaluate.definitions import JOINT_METRICS, METRICS, PROJECT


def _e(value: Any) -> str:
    """HTML-escape anything (quotes too: values also land in attributes)."""
    return html.escape(str(value), quote=True)


def _fmt(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    v = float(value)
    if metric.endswith("_relerr") or metric == "copy_rate":
        return f"{100 * v:.1f}%"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.1e}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3f}"


def _fmt_pct(value: Any) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{100 * float(value):.2f}%"


def _best(values: Mapping[str, float | None], how: str, real: float | None) -> set[str]:
    """Names of the best model(s) of one row."""
    ok = {m: v for m, v in values.items() if v is not None and np.isfinite(v)}
    if not ok:
        return set()
    if how == "min":
        score = ok
    elif how == "one":
        score = {m: abs(v - 1.0) for m, v in ok.items()}
    elif how == "real" and real is not None:
        score = {m: abs(v - real) for m, v in ok.items()}
    else:
        return set()
    low = min(score.values())
    return {m for m, s in score.items() if np.isclose(s, low, rtol=1e-9, atol=1e-12)}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _floors_text(key: str, real_stats: Mapping[str, Any]) -> str:
    """``floor F · decaying D`` of a curve score: the expected score of a model with the
    market's true curve and the lowest score of a curve that decays from lag 2 on."""
    parts = []
    for suffix, name in (("_floor", "floor"), ("_monotone_floor", "decaying")):
        v = real_stats.get(key + suffix)
        if isinstance(v, (int, float)) and np.isfinite(v):
            parts.append(f"{name} {_fmt(key, v)}")
    return " · ".join(parts)


def _metric_rows(metrics: Mapping[str, Any], where: str, models: Sequence[str]) -> str:
    """Table rows of one symbol (or ``joint``) with the best value per row highlighted."""
    rows = []
    info_map = JOINT_METRICS if where == "joint" else METRICS
    real_stats = metrics["real"].get(where, {}) if where != "joint" else {}
    for key, info in info_map.items():
        if where == "joint":
            vals = {m: metrics["models"][m]["joint"].get(key) for m in models}
        else:
            vals = {m: metrics["models"][m]["per_symbol"][where].get(key) for m in models}
        if all(v is None for v in vals.values()):
            continue
        real = real_stats.get(key) if info.best == "real" else None
        best = _best(vals, info.best, real)
        hint = {"min": "lower is better", "one": "closest to 1 is best",
                "real": "closest to real is best"}[info.best]
        # For VaR/ES errors show the measure itself too: a risk manager reads the level first.
        base = key[: -len("_relerr")] if key.endswith("_relerr") else None
        floors = _floors_text(key, real_stats)
        if base and base in real_stats:
            real_cell = _fmt_pct(real_stats[base])
            label = f"{info.label} (level · error)"
        elif floors:
            # A curve score means little without the score the real curve's own noise allows.
            real_cell, label = floors, f"{info.label} (real: floors)"
            hint += ("; real column: expected score of a model with the market's true curve "
                     "(floor), lowest score of any curve decaying from lag 2 on (decaying)")
        else:
            real_cell = _fmt(key, real) if real is not None else ""
            label = info.label
        cells = [f"<th title=\"{_e(hint)}\">{_e(label)}</th>",
                 f"<td class=\"real\">{_e(real_cell)}</td>"]
        for m in models:
            cls = " class=\"best\"" if m in best else ""
            text = _fmt(key, vals[m])
            if base and base in real_stats:
                level = metrics["models"][m]["per_symbol"][where].get(base)
                text = f"{_fmt_pct(level)} · {text}"
            cells.append(f"<td{cls}>{_e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(rows)


def _metric_table(metrics: Mapping[str, Any], where: str, models: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(m)}</th>" for m in models)
    return (f"<table class=\"metrics\"><thead><tr><th>metric</th><th>real</th>{head}</tr>"
            f"</thead><tbody>{_metric_rows(metrics, where, models)}</tbody></table>")


def _bars_table(metrics: Mapping[str, Any]) -> str:
    bars = metrics.get("bars") or []
    if not bars:
        return ""
    rows = []
    for b in bars:
        met = b["met"]
        mark, cls = ("met", "ok") if met else ("not met", "bad") if met is False else ("n/a", "")
        rows.append(
            f"<tr><td>{_e(b['bar'])}</td><td>{_e(b['scope'])}</td>"
            f"<td>{_e(_fmt(b['metric'], b['value']))}</td>"
            f"<td>{_e(_fmt(b['metric'], b['threshold']))}</td>"
            f"<td class=\"{cls}\">{_e(mark)}</td></tr>")
    n_met = sum(1 for b in bars if b["met"])
    return (f"<p class=\"verdict\">{n_met} of {len(bars)} quality bars met by "
            f"<b>{_e(PROJECT)}</b> (thresholds from the baselines of this run).</p>"
            "<table class=\"bars\"><thead><tr><th>bar</th><th>where</th><th>value</th>"
            "<th>threshold</th><th></th></tr></thead><tbody>" + "\n".join(rows)
            + "</tbody></table>")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1250px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:2px solid #eee;padding-bottom:4px;
margin-top:2em}h3{margin-bottom:.3em}
.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 9px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f4f4f4}
td.best{background:#c8efc8;font-weight:bold}
td.real{color:#555;font-style:italic}
td.ok{color:#137a13;font-weight:bold}td.bad{color:#b00;font-weight:bold}
.verdict{font-size:1.15em}
.notes li{color:#7a4b00}
img{max-width:100%}
details{margin:.4em 0}
dl.defs dt{font-weight:bold;margin-top:.4em}dl.defs dd{margin-left:1.2em;color:#444}
"""

DEFINITIONS = (
    ("EMD", "Wasserstein-1 distance of 1/5/20/100-day aggregated returns, scaled by the real "
            "daily σ·√t."),
    ("ACF scores", "‖mean ACF(model) − mean ACF(real)‖₂ over lags 1–50 of r, |r|, r²; the "
                   "real ACF is averaged over non-overlapping chunks of the path length."),
    ("Leverage score", "the same norm for corr(r_t, r²_{t+k}), k = 1–20."),
    ("VaR / ES", "loss side, 1-day and overlapping 10-day returns; relative error to real."),
    ("Strategy book", "buy-and-hold, 10-day momentum, 10-day mean reversion, volatility "
                      "targeting over 100-day windows; mean relative error of VaR 5% and "
                      "ES 5% of their P&L."),
    ("Discriminative score", "|accuracy − 0.5| of a cross-validated gradient-boosting "
                             "classifier telling real from model 20-day windows (0 = "
                             "indistinguishable)."),
    ("Copy rate", "share of model 20-day windows identical to a training window."),
    ("DCR ratio", "median distance of model windows to the nearest training window over that "
                  "of real holdout windows (below 1: closer to the training data than new "
                  "history is)."),
    ("Correlation error", "Frobenius norm of the difference of daily correlation matrices."),
)


def _provenance(ctx: Mapping[str, Any]) -> list[str]:
    """Which scenario set this is, in terms that stay true after the set is moved.

    A set is often evaluated where it was generated and published elsewhere afterwards: it is
    named by its creation time, seed and content digest; the location is only where it was
    evaluated.
    """
    ident = ctx.get("scenario_set") or {}
    out = []
    if ident:
        run = f" · run {_e(ident['run_id'])}" if ident.get("run_id") else ""
        digest = str(ident.get("content_sha256") or "")
        out.append(
            f"<p class=\"sub\">Scenario set created {_e(ident.get('created_at') or '?')} · "
            f"{_e(ident.get('n_scenarios'))} scenarios · seed {_e(ident.get('seed'))}{run} · "
            f"content SHA-256 <code title=\"{_e(digest)}\">{_e(digest[:16])}…</code></p>")
    if ctx.get("scenarios") or ctx.get("prices"):
        out.append(f"<p class=\"sub\">Scenario set <code>{_e(ctx.get('scenarios'))}</code> · "
                   f"prices: <code>{_e(ctx.get('prices'))}</code></p>")
    return out


def render_report(metrics: Mapping[str, Any], real: np.ndarray,
                  models: Mapping[str, np.ndarray], title: str | None = None) -> str:
    """The HTML page for a :func:`~ganjobs.evaluate.scoring.compute_metrics` result.

    Parameters
    ----------
    metrics : dict
        Result of ``compute_metrics`` (plus ``context`` from ``evaluate_scenarios``).
    real : ndarray, shape (T, k)
        Real training returns the metrics were computed against.
    models : mapping of str to ndarray (n, H, k)
        The same paths the metrics were computed on.
    title : str, optional
        Page title (escaped).

    Returns
    -------
    str
        A complete, self-contained HTML document.
    """
    symbols = list(metrics["symbols"])
    order = [m for m in metrics["models"] if m in models]
    real = np.asarray(real, dtype=np.float64).reshape(-1, len(symbols))
    rng = stream(int(metrics.get("seed", 0)), figures.FIGURES_STREAM)
    ctx = metrics.get("context") or {}
    window = ctx.get("window") or {}
    train = window.get("train") or {}
    hold = window.get("holdout") or {}
    title = title or "Scenario quality report"

    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class=\"sub\">Symbols <b>{_e(', '.join(symbols))}</b> · "
        f"{_e(metrics['n_paths'].get(PROJECT, next(iter(metrics['n_paths'].values()))))} "
        f"paths × {_e(metrics['horizon'])} days · compared with real returns "
        f"{_e(train.get('first_date', '?'))} … {_e(train.get('last_date', '?'))} "
        f"({_e(metrics.get('n_train_returns'))} days)"
        + (f", holdout {_e(hold.get('first_date'))} … {_e(hold.get('last_date'))}"
           if hold.get("n_returns") else "")
        + "</p>",
    ]
    parts.extend(_provenance(ctx))
    notes = metrics.get("notes") or []
    if notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul>")

    parts.append("<h2>Verdict</h2>")
    bars = _bars_table(metrics)
    parts.append(bars or f"<p>No <b>{_e(PROJECT)}</b> paths in this comparison.</p>")

    parts.append("<h2>Metrics</h2><p class=\"sub\">Best value per row highlighted. "
                 "Errors and distances: lower is better; DCR ratio: closest to 1; kurtosis "
                 "and skew: closest to real.</p>")
    if len(symbols) > 1:
        parts.append("<h3>Joint (all symbols)</h3>" + _metric_table(metrics, "joint", order))
    for sym in symbols:
        parts.append(f"<h3>{_e(sym)}</h3>" + _metric_table(metrics, sym, order))

    parts.append("<h2>Distributions</h2>")
    for j, sym in enumerate(symbols):
        parts.append(figures.density_qq(sym, j, real, models, rng))
    parts.append("<h2>Dependence over time</h2>")
    for sym in symbols:
        parts.append(figures.curves(sym, metrics, order))
    if PROJECT in models:
        parts.append("<h2>Scenario paths</h2>")
        for j, sym in enumerate(symbols):
            parts.append(figures.fan(sym, j, real, models[PROJECT]))
    if len(symbols) > 1:
        parts.append("<h2>Correlation across symbols</h2>")
        parts.append(figures.heatmaps(symbols, real, models))

    parts.append("<h2>How to read this</h2><dl class=\"defs\">"
                 + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in DEFINITIONS)
                 + "</dl>")
    bar_labels = sorted({b[0] for b in BARS})
    parts.append(f"<p class=\"sub\">{len(bar_labels)} quality bars. Baselines fitted on "
                 f"the training window only. Seed {_e(metrics.get('seed'))}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
