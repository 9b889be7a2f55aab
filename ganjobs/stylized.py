"""Stylized-fact curves of return paths in torch, and the generator's penalty on them.

Volatility clustering (the autocorrelation of ``|r|``) and the leverage effect
(``corr(r_t, r²_{t+k})``) are properties of long stretches of a path: a critic of 64-day
windows sees lags up to a few weeks only, and after a fixed short budget the generator's
``|r|`` autocorrelation was too high at short lags and decayed too fast (crude oil: 0.16 vs
0.10 at lags 1-5, 0.03 vs 0.06 at lag 20). The penalty compares the generator's mean curves
over paths of ``loss.facts_length`` days with the same curves of every window of that length
of the training returns, with the estimator of :mod:`ganjobs.evaluate.metrics` (each row
demeaned on its own, biased sums), so that it learns what the market shows over a year.
"""

from __future__ import annotations

import torch

#: Leverage lags: the leverage effect of daily index returns fades within a month.
LEVERAGE_LAGS = 20


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


def facts_penalty(paths: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]
                  ) -> torch.Tensor:
    """Squared distance of the paths' curves to ``target``: summed over lags, the ``|r|``
    ACF and the leverage curve added, averaged over symbols (the scores of
    :mod:`ganjobs.evaluate.metrics` are the square roots of such sums per symbol)."""
    acf_t, lev_t = target
    acf, lev = fact_curves(paths, acf_t.shape[1])
    per_symbol = (acf - acf_t).square().sum(dim=1) + (lev - lev_t).square().sum(dim=1)
    return per_symbol.mean()
