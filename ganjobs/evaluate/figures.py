"""The evaluation report's figures: matplotlib's Agg canvas, embedded as base64 PNG.

No display and no pyplot global state. Every string that reaches a figure is protected from
mathtext (``$``), because symbol names come from users; the returned ``<img>`` tags hold
only base64 data.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ganjobs.core.windows import sliding_windows
from ganjobs.evaluate.definitions import PROJECT

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


def density_qq(sym: str, j: int, real: np.ndarray, models: Mapping[str, np.ndarray],
               rng: np.random.Generator) -> str:
    """Daily return density (log scale) and QQ plot of column ``j``, every model beside real.

    Models with more than :data:`DENSITY_SAMPLE` values are subsampled with ``rng``.
    """
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


def curves(sym: str, metrics: Mapping[str, Any], order: Sequence[str]) -> str:
    """ACF of r, ACF of |r| and leverage curves of one symbol from a metrics dict."""
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


def fan(sym: str, j: int, real: np.ndarray, paths: np.ndarray) -> str:
    """Quantile fan of the project's cumulative paths against real windows of the horizon."""
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


def heatmaps(symbols: Sequence[str], real: np.ndarray, models: Mapping[str, np.ndarray]
             ) -> str:
    """Daily correlation matrices of real returns, the project's and two baselines' paths."""
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
