"""The ``stress.png`` figure of ``ganjobs stress`` (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

# Colours per source kind; baselines cycle through the rest.
_COLOURS = {"ganjobs": "tab:blue", "historical": "black"}
_CYCLE = ["tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


def _t(value: Any) -> str:
    """Plain text for a matplotlib label: portfolio names and currencies are user input, and
    an unescaped ``$`` pair would be parsed as mathtext (a parse error fails the figure)."""
    return str(value).replace("$", r"\$")


def _colour(name: str, i: int) -> str:
    return _COLOURS.get(name, _CYCLE[i % len(_CYCLE)])


def render_plot(results: dict[str, Any], res: Any, sources: dict[str, Any],
                tails: dict[str, np.ndarray] | None = None) -> bytes:
    """Draw the stress figure and return it as PNG bytes.

    Panels: (1) histogram of the set's P&L at the longest horizon, historical windows and
    other sources overlaid, with the VaR/ES and threshold lines; (2) P&L paths of the worst
    scenarios and the mean path of the threshold breaches (reverse stress); (3) ES 97.5% per
    horizon and source.

    Parameters
    ----------
    results : dict
        The ``stress.json`` content.
    res : ganjobs.stress.accumulator.StressResult
        The set's result, for the full P&L vector.
    sources : dict
        ``results["sources"]``.
    tails : dict of str to ndarray, optional
        P&L at the longest horizon of the comparison sources, overlaid as outlines.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    # One colour per source, the same in every panel.
    colours = {name: _colour(name, i) for i, name in enumerate(n for n in sources
                                                                 if n not in _COLOURS)}
    colours.update(_COLOURS)
    fig = plt.figure(figsize=(15, 9.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1])
    axes = [fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]),
            fig.add_subplot(grid[1, 1])]
    _histogram(axes[0], results, res.pnl[:, -1], tails or {}, colours)
    _worst_paths(axes[1], results)
    _es_by_horizon(axes[2], results, colours)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _histogram(ax: Any, results: dict[str, Any], pnl: np.ndarray,
               tails: dict[str, np.ndarray], colours: dict[str, str]) -> None:
    """The set's P&L at the longest horizon, the other sources as outlines, the tail lines."""
    hmax = results["horizons"][-1]
    port = results["portfolio"]
    gan = results["sources"]["ganjobs"]["horizons"][str(hmax)]
    # One common range covering the bulk of every source (0.1%..99.9%) and the ES lines;
    # values outside it are left out rather than piled up at the edges.
    lows = [np.quantile(v, 0.001) for v in (pnl, *tails.values())] + [-gan["es"]["99"]]
    highs = [np.quantile(v, 0.999) for v in (pnl, *tails.values())]
    lo, hi = min(lows), max(highs)
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1.0):
        # Every P&L equal (e.g. constant returns): give the single bar a visible width.
        pad = max(abs(lo) * 0.01, 1.0)
        lo, hi = lo - pad, hi + pad
    bins = np.linspace(lo, hi, 100)
    ax.hist(pnl, bins=bins, density=True, alpha=0.5, color=_COLOURS["ganjobs"],
            label=f"ganjobs (n={len(pnl):,})")
    for name, vec in tails.items():
        ax.hist(vec, bins=bins, density=True, histtype="step", lw=1.3,
                color=colours.get(name, "grey"), label=_t(f"{name} (n={len(vec):,})"))
    for lvl, ls in (("95", "--"), ("99", "-")):
        ax.axvline(-gan["var"][lvl], color="tab:red", ls=ls, lw=1.2,
                   label=f"ganjobs VaR {lvl}% = {gan['var'][lvl]:,.0f}")
    for lvl, ls in (("97.5", "--"), ("99", "-")):
        ax.axvline(-gan["es"][lvl], color="darkred", ls=ls, lw=1.8,
                   label=f"ganjobs ES {lvl}% = {gan['es'][lvl]:,.0f}")
    ax.axvline(-port["loss_threshold"], color="grey", ls=":", lw=1.2,
               label=f"loss threshold {port['loss_threshold']:,.0f}")
    ax.set_title(_t(f"{port['name']}: P&L at {hmax} days (0.1%-99.9% range of all "
                    "sources)"))
    ax.set_xlabel(_t(f"P&L ({port.get('currency') or 'base currency'})"))
    ax.set_ylabel("density")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _worst_paths(ax: Any, results: dict[str, Any]) -> None:
    """P&L paths of the set's worst scenarios and the reverse-stress mean path."""
    hmax = results["horizons"][-1]
    port = results["portfolio"]
    src = results["sources"]["ganjobs"]
    gan = src["horizons"][str(hmax)]
    steps = np.arange(0, hmax + 1)
    for rec in gan["worst"]:
        ax.plot(steps, [0.0, *rec["pnl_path"]], color="tab:red", alpha=0.45, lw=1)
    rs = src["reverse_stress"]
    if rs and rs.get("mean_pnl_path"):
        ax.plot(steps, [0.0, *rs["mean_pnl_path"]], color="black", lw=2, ls="--",
                label=f"mean of {rs['n_breach']:,} breaches")
    ax.plot([], [], color="tab:red", label=f"{len(gan['worst'])} worst scenarios")
    ax.axhline(-port["loss_threshold"], color="grey", ls=":", lw=1)
    ax.set_title(f"Worst scenario paths ({hmax} days)")
    ax.set_xlabel("day")
    ax.set_ylabel("cumulative P&L")
    ax.legend(fontsize=8)


def _es_by_horizon(ax: Any, results: dict[str, Any], colours: dict[str, str]) -> None:
    """ES 97.5% per horizon, the sources side by side."""
    horizons = results["horizons"]
    sources = results["sources"]
    names = [n for n, s in sources.items() if isinstance(s.get("horizons"), dict)]
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(horizons))
    for i, name in enumerate(names):
        vals = [sources[name]["horizons"].get(str(h), {}).get("es", {}).get("97.5", np.nan)
                for h in horizons]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=_t(name),
               color=colours.get(name, "grey"))
    ax.set_xticks(x, [f"{h}d" for h in horizons])
    ax.set_title("ES 97.5% by source")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
