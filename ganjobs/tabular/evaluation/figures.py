"""Figures of the table report: matplotlib's Agg canvas, embedded as base64 PNG.

Column and method names come from users: every one goes through ``_t`` (no mathtext).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ganjobs.evaluate.figures import _png, _t
from ganjobs.tabular.evaluation.encode import Columns

REAL_COLOR = "#000000"
_PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
_BINS = 30
_MAX_LEVELS = 12
_PER_ROW = 3


def _colors(names: Sequence[str]) -> dict[str, str]:
    return {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}


def marginals(columns: Sequence[str], kinds: Mapping[str, str], real: Columns,
              methods: Mapping[str, Columns]) -> str:
    """One panel per column: real train beside each method (densities or level shares)."""
    rows = -(-len(columns) // _PER_ROW)
    fig = Figure(figsize=(4.6 * _PER_ROW, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, _PER_ROW)).ravel()
    colors = _colors(list(methods))
    for ax, name in zip(axes, columns, strict=False):
        if kinds[name] == "categorical":
            _levels_panel(ax, name, real, methods, colors)
        else:
            _density_panel(ax, name, real, methods, colors)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _density_panel(ax, name: str, real: Columns, methods: Mapping[str, Columns],
                   colors: Mapping[str, str]) -> None:
    r = real[name][~np.isnan(real[name])]
    lo, hi = np.quantile(r, [0.01, 0.99])
    if hi <= lo:
        lo, hi = float(r.min()) - 0.5, float(r.max()) + 0.5
    bins = np.linspace(lo, hi, _BINS + 1)
    ax.hist(np.clip(r, lo, hi), bins=bins, density=True, histtype="stepfilled",
            color="#bbbbbb", label="real train")
    for method, cols in methods.items():
        x = cols[name][~np.isnan(cols[name])]
        if x.size:
            ax.hist(np.clip(x, lo, hi), bins=bins, density=True, histtype="step", lw=1.4,
                    color=colors[method], label=_t(method))
    ax.set_title(_t(f"{name} (1-99% of real, ends clipped)"), fontsize=9)
    ax.tick_params(labelsize=7)


def _levels_panel(ax, name: str, real: Columns, methods: Mapping[str, Columns],
                  colors: Mapping[str, str]) -> None:
    keys = ["(missing)" if v is None else v for v in real[name]]
    levels, counts = np.unique(np.array(keys, dtype=object), return_counts=True)
    shown = list(levels[np.argsort(-counts, kind="stable")][:_MAX_LEVELS])
    series = {"real train": real[name], **{m: c[name] for m, c in methods.items()}}
    width = 0.8 / len(series)
    x = np.arange(len(shown))
    for i, (label, values) in enumerate(series.items()):
        keys = np.array(["(missing)" if v is None else v for v in values], dtype=object)
        shares = [float(np.mean(keys == level)) for level in shown]
        color = "#bbbbbb" if label == "real train" else colors[label]
        ax.bar(x + i * width - 0.4 + width / 2, shares, width, color=color, label=_t(label))
    ax.set_xticks(x, [_t(s) for s in shown], rotation=45, ha="right", fontsize=7)
    ax.set_title(_t(f"{name} (share of rows)"), fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def pair_heatmaps(names: Sequence[str], pairs: Mapping[str, Sequence[Sequence]]) -> str:
    """For each method, ``1 - pair score`` of every column pair (0 = same trend as real)."""
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    fig = Figure(figsize=(0.28 * k * len(pairs) + 2.5 * len(pairs), 0.28 * k + 2.2))
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    im = None
    for ax, (method, rows) in zip(axes, pairs.items(), strict=True):
        loss = np.full((k, k), np.nan)
        for a, b, score in rows:
            loss[index[a], index[b]] = loss[index[b], index[a]] = 1.0 - score
        im = ax.imshow(loss, vmin=0.0, vmax=0.5, cmap="Reds")
        labels = [_t(n) for n in names]
        ax.set_xticks(range(k), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(k), labels, fontsize=6)
        ax.set_title(_t(method), fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.7, label="1 - pair score")
    return _png(fig)
