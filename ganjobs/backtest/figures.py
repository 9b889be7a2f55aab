"""The backtest report's figure: realized returns against each model's 99% VaR.

Drawn on matplotlib's Agg canvas and embedded as base64 PNG by the evaluation report's
encoder, so both reports look alike and neither touches pyplot's global state. Target and
model names come from users: every label passes through the mathtext guard.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ganjobs.evaluate.definitions import PROJECT
from ganjobs.evaluate.figures import _color, _png, _t

#: Realized returns, drawn under every line.
REALIZED_COLOR = "#9a9a9a"
#: Realized returns that breached at least one model's VaR.
BREACH_COLOR = "#222222"


def _days(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Matplotlib's date numbers (days since its epoch) of pandas dates."""
    return mdates.date2num(np.asarray(pd.DatetimeIndex(dates), dtype="datetime64[D]"))


def _format_dates(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=5, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _model_series(frame: pd.DataFrame, model: str) -> tuple[np.ndarray, np.ndarray,
                                                            np.ndarray]:
    """Dates (as day numbers), 99% VaR and realized return of one model, by date."""
    rows = frame[frame["model"] == model].sort_values("date", kind="stable")
    return (_days(rows["date"]), rows["var_99"].to_numpy(np.float64),
            rows["realized"].to_numpy(np.float64))


def var_exceptions(target: str, horizon: int, frame: pd.DataFrame,
                   order: Sequence[str]) -> str:
    """Realized returns with every model's 99% VaR line and where each model was breached.

    The top panel shows the realized returns (grey points; black where some model was
    breached) under the negated VaR of each model, the project's line drawn thicker and
    its exceptions ringed. Exceptions of different models fall on the same points, so the
    lower panel gives each model its own row with a tick per exception: clusters such as
    a crisis autumn stand out model by model.

    Parameters
    ----------
    target : str
        Symbol or portfolio name (title only).
    horizon : int
        Forecast horizon in days of ``frame`` (labels only).
    frame : DataFrame
        Forecast rows of one target and horizon: ``date``, ``model``, ``var_99``,
        ``realized``.
    order : sequence of str
        Models in drawing and legend order; models without rows are left out.

    Returns
    -------
    str
        An ``<img>`` tag holding the PNG as base64.
    """
    models = [m for m in order if (frame["model"] == m).any()]
    series = {m: _model_series(frame, m) for m in models}
    fig = Figure(figsize=(14, 5.2 + 0.32 * len(models)))
    ax, ax_hits = fig.subplots(2, 1, sharex=True,
                               gridspec_kw={"height_ratios": [4.5, 0.5 + 0.32 * len(models)]})
    real = (frame.dropna(subset=["realized"]).sort_values("date", kind="stable")
            .drop_duplicates("date"))
    breached = np.zeros(len(real), dtype=bool)
    real_days = _days(real["date"])
    real_ret = real["realized"].to_numpy(np.float64)
    hits: dict[str, np.ndarray] = {}
    for m in models:
        days, var, realized = series[m]
        with np.errstate(invalid="ignore"):
            hit = np.isfinite(var) & np.isfinite(realized) & (realized < -var)
        hits[m] = days[hit]
        breached |= np.isin(real_days, days[hit])
    ax.scatter(real_days[~breached], real_ret[~breached] * 100, s=2, color=REALIZED_COLOR,
               linewidths=0, label="realized return", zorder=1)
    ax.scatter(real_days[breached], real_ret[breached] * 100, s=7, color=BREACH_COLOR,
               linewidths=0, label="breach of some model's VaR", zorder=4)
    for m in models:
        days, var, _ = series[m]
        own = m == PROJECT
        ax.plot(days, -var * 100, color=_color(m, models), lw=1.3 if own else 0.6,
                alpha=1.0 if own else 0.85, zorder=3 if own else 2,
                label=_t(f"{m} 99% VaR ({len(hits[m])} exceptions)"))
    if PROJECT in hits and len(hits[PROJECT]):
        own = np.isin(real_days, hits[PROJECT])
        ax.scatter(real_days[own], real_ret[own] * 100, s=30, facecolors="none",
                   edgecolors=_color(PROJECT, models), linewidths=0.9, zorder=5,
                   label=_t(f"{PROJECT} exception"))
    ax.axhline(0, color="#bbbbbb", lw=0.5, zorder=0)
    _loss_side(ax, real_ret, series)
    ax.set_ylabel(f"{horizon}-day return (%)")
    fig.suptitle(_t(f"{target}: realized {horizon}-day returns and each model's 99% VaR "
                    "(drawn as a loss: −VaR)"))
    # Above the panel: inside it, a legend would hide the losses the figure is about.
    ax.legend(fontsize=7.5, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False,
              ncol=min(4, len(models) + 2))
    _exception_rows(ax_hits, models, hits)
    _format_dates(ax_hits)
    return _png(fig)


def _loss_side(ax, realized: np.ndarray, series: dict) -> None:
    """Give the losses the room: gains are cut at their 99.5% quantile, said in a corner."""
    values = np.concatenate([realized] + [-v for _, v, _ in series.values()])
    values = values[np.isfinite(values)]
    gains = realized[realized > 0]
    if values.size == 0 or gains.size < 20 or values.min() >= 0:
        return
    low = float(values.min())
    top = max(float(np.quantile(gains, 0.995)), 0.25 * abs(low)) * 1.1
    if gains.max() > top:
        ax.set_ylim(low * 100 * 1.05, top * 100)
        ax.text(0.995, 0.98, f"{int((gains > top).sum())} gains above +{top * 100:.1f}% "
                "not shown", transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
                color="#666666")


def _exception_rows(ax, models: Sequence[str], hits: dict[str, np.ndarray]) -> None:
    """One row per model (the first at the top), a tick at each of its exceptions."""
    rows = list(reversed(models))
    ax.eventplot([hits[m] for m in rows], lineoffsets=np.arange(len(rows)),
                 linelengths=0.7, linewidths=0.9, colors=[_color(m, models) for m in rows])
    ax.set_yticks(np.arange(len(rows)), [_t(f"{m} ({len(hits[m])})") for m in rows],
                  fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title("99% VaR exceptions by model (count)", fontsize=9, loc="left")
    ax.grid(axis="x", color="#e5e5e5", lw=0.5)
