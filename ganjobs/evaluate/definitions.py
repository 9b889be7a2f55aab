"""What the evaluation measures: the metric definitions, their constants and how to read them.

Every metric compares synthetic log-return paths ``(n, H, k)`` with the real returns of the
model's training window ``(T, k)``, computed identically for the project's paths and every
baseline. The real side is prepared once (:func:`ganjobs.evaluate.reference.build_reference`)
and shared by all models, so every model is measured against exactly the same numbers.

Metric definitions (per symbol unless marked *joint*)
-----------------------------------------------------
``emd_{1,5,20,100}d``
    Wasserstein-1 distance between t-day aggregated returns, both sides divided by the real
    daily σ·√t (QuantGAN's EMD, unit free). Real: overlapping windows of the training series;
    synthetic: overlapping windows inside each path. Lags longer than H are skipped.
``acf_r``, ``acf_abs``, ``acf_sq``
    ‖mean ACF(synthetic) − mean ACF(real)‖₂ over lags 1–50 of r, |r| and r². The ACF is the
    usual biased estimator computed *per path*, and the real side is computed the same way on
    non-overlapping chunks of the training series of length H, then averaged, so both sides
    carry the same finite-length bias.
``leverage``
    The same norm for the per-path cross-correlation corr(r_t, r²_{t+k}), k = 1–20.
``*_floor`` (real side of the four curve scores)
    The score a *perfect* model would get in expectation: the real curve is a mean over only
    m chunks and carries sampling noise, so a model whose true curve equals the market's
    still scores √(Σ_k SE_k²), SE_k the standard error of the real mean at lag k over the m
    chunks (assumed independent, which understates it when volatility regimes span chunks).
    A score below the floor means reproducing this sample's noise — what a bootstrap of the
    same history does.
``acf_abs_monotone_floor``, ``acf_sq_monotone_floor``
    A hard bound instead of an expectation: the distance from the real curve to the nearest
    curve that does not rise with the lag from lag 2 on (lag 1 left free: index returns' |r|
    autocorrelation dips at lag 1), by isotonic regression. The ACF of |r| and r² of GARCH
    and stochastic-volatility models decays with the lag (and so do the project's curves, up
    to their estimation noise), so such a model cannot score below it on this sample; only
    one that reproduces the real curve's lag-to-lag noise can, which means reusing history.
``var99_1d``, ``es975_1d``, ``var99_10d``, ``es975_10d`` (+ ``_relerr``)
    Loss-side VaR 99% and ES 97.5% of 1-day and overlapping 10-day returns, by the one rule
    of :mod:`ganjobs.core.risk` (VaR: minus the empirical 1% quantile, an observed return;
    ES: minus the mean of the returns at or below the 2.5% quantile), and their relative
    error |synthetic − real| / |real|.
``kurtosis``, ``skew``
    Excess kurtosis and skewness of daily returns (shown beside the real values).
``strategy_relerr``
    A small strategy book run over 100-day windows: buy-and-hold; 10-day momentum (position
    = sign of the last 10 days' return); 10-day mean reversion (minus that); volatility
    targeting (position = real daily σ / σ of the last 20 days, capped at 3). Positions use
    trailing data only; windows start after the 20-day warm-up. Mean relative error of the
    VaR 5% and ES 5% of the window P&L over the 4 strategies × 2 measures.
``discriminative``
    TimeGAN's post-hoc score |accuracy − 0.5| of a gradient-boosted classifier
    (:class:`sklearn.ensemble.HistGradientBoostingClassifier`) telling 20-day real windows from
    synthetic ones, 3-fold grouped cross-validation with balanced classes (accuracy pooled
    over the out-of-fold predictions). Features: the
    window divided by the real σ, plus per-window summaries (mean, std, min, max, mean |r|,
    lag-1 autocorrelation of r and |r|, and for several symbols the in-window correlations).
    Groups keep overlapping windows in one fold: real windows lie inside 100-day blocks
    (one group per block), synthetic windows are grouped by path. Also computed *joint*.
``copy_rate``
    Share of synthetic 20-day windows that equal a training window: max-abs difference
    ≤ 1e-8 after both are rounded to float32 (the scenario storage precision, so a copied
    value compares exactly). Also *joint* (all symbols of the window at once).
``dcr_ratio``
    Median Euclidean distance of synthetic 20-day windows to their nearest training window,
    over the same median for real holdout windows (after the training window). Windows are
    divided by the real σ per symbol. Also *joint*.
``corr_error`` (*joint*)
    Frobenius norm of the difference of the daily return correlation matrices.

Sampling: synthetic windows for copy rate/DCR (≤ 4,000), for the classifier (as many as the
real windows, ≤ 1,000 per class) and aggregated returns for the EMD (≤ 100,000 per lag) are
subsampled with a random stream named after the model (:func:`ganjobs.core.seeds.stream`),
so results are reproducible and adding a model does not change the others.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``format`` of ``metrics.json``.
FORMAT = "ganjobs.metrics/1"
#: Name of the project's own paths among the compared models.
PROJECT = "ganjobs"

EMD_LAGS = (1, 5, 20, 100)
ACF_LAGS = 50
LEVERAGE_LAGS = 20
WINDOW = 20
REAL_BLOCK = 100  # real classifier windows are grouped in blocks of this many days
STRATEGY_WINDOW = 100
SIGNAL_LOOKBACK = 10
VOL_LOOKBACK = 20
VOL_CAP = 3.0
STRATEGIES = ("buy_and_hold", "momentum_10d", "mean_reversion_10d", "vol_target")
COPY_TOL = 1e-8
MAX_EMD_SAMPLES = 100_000
MAX_NN_QUERIES = 4_000
MAX_DISC_PER_CLASS = 1_000
CV_FOLDS = 3


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric: its label, and which value is best.

    ``best`` is ``"min"`` (lower is better), ``"one"`` (closest to 1) or ``"real"`` (closest
    to the real value, for descriptive statistics such as kurtosis).
    """

    label: str
    best: str
    scope: str = "symbol"


METRICS: dict[str, MetricInfo] = {
    "emd_1d": MetricInfo("EMD 1-day returns", "min"),
    "emd_5d": MetricInfo("EMD 5-day returns", "min"),
    "emd_20d": MetricInfo("EMD 20-day returns", "min"),
    "emd_100d": MetricInfo("EMD 100-day returns", "min"),
    "acf_r": MetricInfo("ACF score r", "min"),
    "acf_abs": MetricInfo("ACF score |r| (vol. clustering)", "min"),
    "acf_sq": MetricInfo("ACF score r²", "min"),
    "leverage": MetricInfo("Leverage score", "min"),
    "var99_1d_relerr": MetricInfo("VaR 99% 1-day rel. error", "min"),
    "es975_1d_relerr": MetricInfo("ES 97.5% 1-day rel. error", "min"),
    "var99_10d_relerr": MetricInfo("VaR 99% 10-day rel. error", "min"),
    "es975_10d_relerr": MetricInfo("ES 97.5% 10-day rel. error", "min"),
    "kurtosis": MetricInfo("Excess kurtosis", "real"),
    "skew": MetricInfo("Skewness", "real"),
    "strategy_relerr": MetricInfo("Strategy book VaR/ES 5% rel. error", "min"),
    "discriminative": MetricInfo("Discriminative score", "min"),
    "copy_rate": MetricInfo("Copy rate", "min"),
    "dcr_ratio": MetricInfo("DCR ratio", "one"),
}
JOINT_METRICS: dict[str, MetricInfo] = {
    "corr_error": MetricInfo("Correlation matrix error", "min", "joint"),
    "discriminative": MetricInfo("Discriminative score", "min", "joint"),
    "copy_rate": MetricInfo("Copy rate", "min", "joint"),
    "dcr_ratio": MetricInfo("DCR ratio", "one", "joint"),
}
