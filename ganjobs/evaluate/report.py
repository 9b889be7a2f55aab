"""One self-contained HTML page: the scenarios beside history and the baselines.

Figures are drawn with matplotlib's Agg canvas (no display, no pyplot global state) and
embedded as base64 PNG. Every string that reaches the page goes through :func:`html.escape`,
and every string that reaches a figure is protected from mathtext (``$``), because symbol
names and URLs come from users.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ganjobs.core.seeds import stream
from ganjobs.core.windows import sliding_windows
from ganjobs.evaluate.bars import BARS
from ganjobs.evaluate.definitions import JOINT_METRICS, METRICS, PROJECT

COLORS = {
    "real": "#000000",
    PROJECT: "#d62728",
    "gaussian": "#8c8c8c",
    "bootstrap": "#2ca02c",
    "garch-t": "#1f77b4",
    "gjr-garch-t": "#9467bd",
}
_EXTRA = ("#ff7f0e", "#17becf", "#bcbd22", "#e377c2", "#8c564b")
DPI = 80
SAMPLE_PATHS = 5
DENSITY_SAMPLE = 300_000
#: Random stream of the figures' subsamples.
FIGURES_STREAM = "report-figures"


def _e(value: Any) -> str:
    """HTML-escape anything (quotes too: values also land in attributes)."""
    return html.escape(str(value), quote=True)


def _t(value: Any) -> str:
    """Plain text for a matplotlib label: an unescaped ``$`` would start mathtext."""
    return str(value).replace("$", r"\$")


def _color(name: str, order: Sequence[str]) -> str:
    if name in COLORS:
        return COLORS[name]
    extra = [m for m in order if m not in COLORS]
    return _EXTRA[extra.index(name) % len(_EXTRA)] if name in extra else "#444444"


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return ("<img alt=\"figure\" src=\"data:image/png;base64,"
            + base64.b64encode(buf.getvalue()).decode("ascii") + "\">")


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


def _density_qq(sym: str, j: int, real: np.ndarray, models: Mapping[str, np.ndarray],
                rng: np.random.Generator) -> str:
    order = list(models)
    r = real[:, j]
    lo, hi = np.quantile(r, [0.0005, 0.9995])
    span = hi - lo
    bins = np.linspace(min(r.min(), lo - 0.5 * span), max(r.max(), hi + 0.5 * span), 81)
    mid = (bins[1:] + bins[:-1]) / 2
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    probs = np.linspace(0.001, 0.999, 300)
    qr = np.quantile(r, probs)
    dens, _ = np.histogram(r, bins=bins, density=True)
    ax1.plot(mid[dens > 0] * 100, dens[dens > 0], color=COLORS["real"], lw=2.2, label="real")
    for name, p in models.items():
        x = p[:, :, j].ravel()
        if x.size > DENSITY_SAMPLE:
            x = rng.choice(x, DENSITY_SAMPLE, replace=False)
        d, _ = np.histogram(x, bins=bins, density=True)
        lw = 2.0 if name == PROJECT else 1.1
        ax1.plot(mid[d > 0] * 100, d[d > 0], color=_color(name, order), lw=lw, label=_t(name))
        ax2.plot(qr * 100, np.quantile(x, probs) * 100, color=_color(name, order), lw=lw,
                 label=_t(name))
    ax1.set_yscale("log")
    ax1.set_xlabel("daily log return (%)")
    ax1.set_ylabel("density (log scale)")
    ax1.set_title(_t(f"{sym}: daily return density"))
    ax1.legend(fontsize=8)
    ax2.plot(qr * 100, qr * 100, color=COLORS["real"], lw=1, ls="--", label="real = model")
    ax2.set_xlabel("real quantile (%)")
    ax2.set_ylabel("model quantile (%)")
    ax2.set_title(_t(f"{sym}: QQ plot vs real (0.1%–99.9%)"))
    ax2.legend(fontsize=8)
    return _png(fig)


def _curves(sym: str, metrics: Mapping[str, Any], order: Sequence[str]) -> str:
    curves = metrics["curves"][sym]
    fig = Figure(figsize=(15, 3.6))
    axes = fig.subplots(1, 3)
    panels = (("acf_r", "ACF of r"), ("acf_abs", "ACF of |r| (volatility clustering)"),
              ("leverage", "leverage: corr(r(t), r²(t+k))"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for name in ["real", *order]:
            c = curves.get(name, {}).get(key)
            if c is None:
                continue
            y = np.array([np.nan if v is None else v for v in c], dtype=float)
            lags = np.arange(1, len(y) + 1)
            lw = 2.4 if name in ("real", PROJECT) else 1.1
            ax.plot(lags, y, color=_color(name, order), lw=lw, label=_t(name))
        ax.axhline(0, color="#999", lw=0.6)
        ax.set_xlabel("lag (days)")
        ax.set_title(_t(f"{sym}: {title}"), fontsize=10)
    axes[0].legend(fontsize=8)
    return _png(fig)


def _fan(sym: str, j: int, real: np.ndarray, paths: np.ndarray) -> str:
    h = paths.shape[1]
    cum = np.cumsum(paths[:, :, j].astype(np.float64), axis=1) * 100
    steps = np.arange(1, h + 1)
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    q = np.percentile(cum, [1, 5, 25, 50, 75, 95, 99], axis=0)
    red = COLORS[PROJECT]
    ax.fill_between(steps, q[0], q[6], color=red, alpha=0.12, label="1–99%")
    ax.fill_between(steps, q[1], q[5], color=red, alpha=0.2, label="5–95%")
    ax.fill_between(steps, q[2], q[4], color=red, alpha=0.3, label="25–75%")
    ax.plot(steps, q[3], color=red, lw=1.8, label="median")
    for i in range(min(SAMPLE_PATHS, len(cum))):
        ax.plot(steps, cum[i], color="#333", lw=0.7, alpha=0.8,
                label="sample paths" if i == 0 else None)
    rw = sliding_windows(real[:, j], h)
    if len(rw) >= 2:
        rc = np.cumsum(rw[:, :, 0], axis=1) * 100
        rq = np.percentile(rc, [1, 5, 95, 99], axis=0)
        ax.plot(steps, rq[1], color="k", ls="--", lw=1.2, label="real 5% / 95%")
        ax.plot(steps, rq[2], color="k", ls="--", lw=1.2)
        ax.plot(steps, rq[0], color="k", ls=":", lw=1.2, label="real 1% / 99%")
        ax.plot(steps, rq[3], color="k", ls=":", lw=1.2)
    ax.set_xlabel("days ahead")
    ax.set_ylabel("cumulative log return (%)")
    ax.set_title(_t(f"{sym}: {PROJECT} scenarios (fan) against real {h}-day windows"))
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return _png(fig)


def _heatmaps(symbols: Sequence[str], real: np.ndarray, models: Mapping[str, np.ndarray]
              ) -> str:
    k = len(symbols)
    shown = [("real", real)] + [(m, models[m].reshape(-1, k)) for m in (PROJECT, "bootstrap",
                                                                      "garch-t") if m in models]
    fig = Figure(figsize=(3.6 * len(shown), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    labels = [_t(s) for s in symbols]
    im = None
    for ax, (name, x) in zip(axes, shown, strict=True):
        c = np.corrcoef(np.asarray(x, dtype=np.float64), rowvar=False)
        im = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), labels, fontsize=8)
        ax.set_title(_t(name))
        if k <= 8:
            for a in range(k):
                for b in range(k):
                    ax.text(b, a, f"{c[a, b]:.2f}", ha="center", va="center", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8)
    return _png(fig)


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
        out.append(f"<p class=\"sub\">Evaluated at <code>{_e(ctx.get('scenarios'))}</code> · "
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
    rng = stream(int(metrics.get("seed", 0)), FIGURES_STREAM)
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
        parts.append(_density_qq(sym, j, real, models, rng))
    parts.append("<h2>Dependence over time</h2>")
    for sym in symbols:
        parts.append(_curves(sym, metrics, order))
    if PROJECT in models:
        parts.append("<h2>Scenario paths</h2>")
        for j, sym in enumerate(symbols):
            parts.append(_fan(sym, j, real, models[PROJECT]))
    if len(symbols) > 1:
        parts.append("<h2>Correlation across symbols</h2>")
        parts.append(_heatmaps(symbols, real, models))

    parts.append("<h2>How to read this</h2><dl class=\"defs\">"
                 + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in DEFINITIONS)
                 + "</dl>")
    bar_labels = sorted({b[0] for b in BARS})
    parts.append(f"<p class=\"sub\">{len(bar_labels)} quality bars. Baselines fitted on "
                 f"the training window only. Seed {_e(metrics.get('seed'))}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
