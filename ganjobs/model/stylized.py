"""Stylized-fact curves of return paths in torch, and the generator's penalty on them.

Volatility clustering (the autocorrelation of ``|r|``) and the leverage effect
(``corr(r_t, r²_{t+k})``) are properties of long stretches of a path: a critic of 64-day
windows sees lags up to a few weeks only, and after a fixed short budget the generator's
``|r|`` autocorrelation was too high at short lags and decayed too fast (crude oil: 0.16 vs
0.10 at lags 1-5, 0.03 vs 0.06 at lag 20). The penalty compares the generator's mean curves
over paths of ``loss.facts_length`` days with the same curves of every window of that length
of the training returns, with the estimator of :mod:`ganjobs.evaluate.primitives` (each row
demeaned on its own, biased sums), so that it learns what the market shows over a year.

The third fact is the distribution of realized volatility: the quantiles of the log standard
deviation of every ``loss.facts_vol_window``-day window. Pulling the |r| curves up alone let
the generator reach persistent volatility through too wide swings: crude-oil paths had too
many calm months (5% quantile of the 20-day standard deviation 0.33 vs the market's 0.37, in
units of the daily σ), the first thing a classifier of 20-day windows noticed.

The fourth is the ``|r|`` autocorrelation *within* short windows (a month): over a year it
mixes slow swings of volatility with day-to-day ones, within a month mostly the latter. The
market's is lowest at lag 1 (S&P 500: -0.108 at lag 1, -0.018 at lag 2 in 20-day windows;
crude oil -0.050 and -0.038): a large move tends to be followed by a smaller one relative to
the month's level. The generator's lag 1 was instead the highest of its first lags (S&P 500
-0.054, crude oil -0.009; lags 2-5 matched), which the yearly curve (where lags 2-50 outweigh
lag 1) and a critic of 64-day windows let pass.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

#: Leverage lags: the leverage effect of daily index returns fades within a month.
LEVERAGE_LAGS = 20
#: Probability levels of the realized-volatility quantiles: 2.5%, 7.5%, ..., 97.5%.
VOL_LEVELS = tuple((i + 0.5) / 20 for i in range(20))


def _lagged_sums(a: torch.Tensor, b: torch.Tensor, lags: int) -> torch.Tensor:
    """``Σ_t a_t b_{t+k}`` for ``k = 1..lags`` along dim 1 of ``(n, L, k)`` tensors (FFT)."""
    length = a.shape[1]
    size = 2 * length  # zero padding: no wrap-around
    fa = torch.fft.rfft(a, n=size, dim=1)
    fb = torch.fft.rfft(b, n=size, dim=1)
    return torch.fft.irfft(fa.conj() * fb, n=size, dim=1)[:, 1: lags + 1]


def fact_curves(x: torch.Tensor, acf_lags: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over paths of the ``|r|`` ACF and the leverage curve of each symbol.

    Parameters
    ----------
    x : Tensor, shape (n, L, k)
        Paths of ``k`` symbols.
    acf_lags : int
        Lags ``1..acf_lags`` of the ``|r|`` autocorrelation (at most ``L - 1``).

    Returns
    -------
    acf_abs : Tensor, shape (k, acf_lags)
    leverage : Tensor, shape (k, min(LEVERAGE_LAGS, acf_lags))
    """
    eps = 1e-12
    x = x.float()
    v = x.abs()
    v = v - v.mean(dim=1, keepdim=True)
    vv = v.square().sum(dim=1)  # (n, k)
    acf = _lagged_sums(v, v, acf_lags) / (vv[:, None] + eps)
    r = x - x.mean(dim=1, keepdim=True)
    s = x.square()
    s = s - s.mean(dim=1, keepdim=True)
    den = (r.square().sum(dim=1) * s.square().sum(dim=1)).sqrt()
    lev_lags = min(LEVERAGE_LAGS, acf_lags)
    lev = _lagged_sums(r, s, lev_lags) / (den[:, None] + eps)
    return acf.mean(dim=0).T, lev.mean(dim=0).T


def data_curves(data: torch.Tensor, length: int, acf_lags: int, stride: int = 1
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fact_curves` of every ``length``-day window of ``data`` ``(T, k)``, moved by
    ``stride`` days (the whole series when it is shorter than ``length``)."""
    length = min(length, data.shape[0])
    windows = data.unfold(0, length, stride).transpose(1, 2)  # (m, length, k)
    return fact_curves(windows, acf_lags)


def vol_quantiles(x: torch.Tensor, window: int) -> torch.Tensor:
    """Quantiles at :data:`VOL_LEVELS` of the log standard deviation of every ``window``-day
    window of paths ``(n, L, k)``, pooled over paths: shape ``(k, len(VOL_LEVELS))``."""
    w = x.float().unfold(1, window, 1)  # (n, L - window + 1, k, window)
    logvol = torch.log(w.std(dim=-1) + 1e-6).reshape(-1, x.shape[2])
    levels = torch.tensor(VOL_LEVELS, device=x.device)
    return torch.quantile(logvol, levels, dim=0).T


def short_acf(x: torch.Tensor, window: int, lags: int) -> torch.Tensor:
    """Mean ``|r|`` autocorrelation at lags ``1..lags`` within every ``window``-day window of
    paths ``(n, L, k)``, pooled over paths and windows: shape ``(k, lags)``.

    Each window is demeaned on its own and its sums are biased, as in :func:`fact_curves`.
    Every window's sums come from running sums (``O(L * lags)``, not ``O(L * window * lags)``).
    """
    a = x.float().abs()
    starts = a.shape[1] - window + 1

    def running(v: torch.Tensor) -> torch.Tensor:
        return F.pad(v.cumsum(dim=1), (0, 0, 1, 0))

    def span(c: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Sum over days ``s + lo .. s + hi - 1`` of every window start ``s``."""
        return c[:, hi: hi + starts] - c[:, lo: lo + starts]

    c1 = running(a)
    mean = span(c1, 0, window) / window
    den = span(running(a.square()), 0, window) - window * mean.square() + 1e-12
    acf = []
    for lag in range(1, lags + 1):
        # Σ (a_t - m)(a_{t+lag} - m) over the window's pairs, expanded into running sums.
        prod = span(running(a[:, :-lag] * a[:, lag:]), 0, window - lag)
        ends = span(c1, 0, window - lag) + span(c1, lag, window)
        acf.append((prod - mean * ends + (window - lag) * mean.square()) / den)
    return torch.stack(acf, dim=-1).mean(dim=(0, 1))


def _deviations(paths: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor],
                vol: tuple[int, torch.Tensor] | None,
                short: tuple[int, torch.Tensor] | None) -> list[torch.Tensor]:
    acf_t, lev_t = target
    acf, lev = fact_curves(paths, acf_t.shape[1])
    out = [acf - acf_t, lev - lev_t]
    if vol is not None:
        window, vq_t = vol
        out.append(vol_quantiles(paths, window) - vq_t)
    if short is not None:
        window, sa_t = short
        out.append(short_acf(paths, window, sa_t.shape[1]) - sa_t)
    return out


def facts_penalty(paths: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor],
                  vol: tuple[int, torch.Tensor] | None = None, split: bool = False,
                  lag1_weight: float = 1.0, short: tuple[int, torch.Tensor] | None = None,
                  short_weight: float = 1.0) -> torch.Tensor:
    """Squared distance of the paths' facts to the data's, averaged over symbols.

    ``target``: the data's ``|r|`` ACF and leverage curves (squared differences summed over
    lags: the scores of :mod:`ganjobs.evaluate.definitions` are the square roots of such sums
    per symbol). ``vol``: ``(window, quantiles)`` of the data's :func:`vol_quantiles`, whose
    squared differences (log scale, summed over the levels) are added.

    ``split``: instead of squaring the batch's deviation, multiply the deviations of its two
    halves. The square's expectation is the squared distance of the generator's expected
    curves *plus* the sampling variance of a batch mean, and minimising that variance pulls
    the generator towards paths that vary less from one to the next (weaker clustering gives
    steadier curves); the product of independent halves carries no such term (exactly for
    the curves, which are means over paths, and to first order for the quantiles). It can be
    negative.

    ``lag1_weight``: weight of the ``|r|`` autocorrelation's lag-1 term (the others weigh 1).
    ``short``: ``(window, curve)`` of the data's :func:`short_acf`, whose squared differences,
    times ``short_weight``, are added.
    """
    if split and paths.shape[0] >= 2:
        h = paths.shape[0] // 2
        da = _deviations(paths[:h], target, vol, short)
        db = _deviations(paths[h: 2 * h], target, vol, short)
    else:
        da = db = _deviations(paths, target, vol, short)
    if short is not None and short_weight != 1.0:
        root = math.sqrt(short_weight)
        da, db = [*da[:-1], da[-1] * root], [*db[:-1], db[-1] * root]
    if lag1_weight != 1.0:
        # Both factors carry the square root, so the product's lag-1 term weighs lag1_weight.
        scale = torch.ones(da[0].shape[1], dtype=da[0].dtype, device=da[0].device)
        scale[0] = math.sqrt(lag1_weight)
        da, db = [da[0] * scale, *da[1:]], [db[0] * scale, *db[1:]]
    per_symbol = sum((a * b).sum(dim=1) for a, b in zip(da, db, strict=True))
    return per_symbol.mean()
