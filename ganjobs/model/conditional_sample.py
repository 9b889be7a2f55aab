"""Sampling the conditional model: paths from market states, and their output calibration.

Each origin's noise is drawn from its own seed, so an origin's paths do not depend on which
other origins share a forward pass; origins are batched (many dates in one pass) for speed.

The output calibration is the body map of :mod:`ganjobs.model.marginal`, fitted in the
scaled space on the training years: the generator's scaled futures, pooled over training
origins, are mapped onto the real scaled futures that followed those origins. It corrects
the pooled shape (body and tails) of what the generator draws; how the scale moves with
the state stays the generator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganjobs.config import GanConfig
from ganjobs.core.seeds import derive_seed, stream
from ganjobs.model import condition
from ganjobs.model.marginal import apply_body, fit_body
from ganjobs.model.networks import draw_noise

#: Origins and paths per origin of the sample the calibration is fitted on, and its seed.
CALIBRATION_ORIGINS = 1024
CALIBRATION_PATHS = 4
CALIBRATION_SEED = 20_200_316
#: Paths per forward pass: the networks act on each path alone, so any grouping gives the
#: same values; this bounds the memory of one pass.
PASS_PATHS = 4096


def _noise(cfg: GanConfig, n: int, length: int, seed: int) -> torch.Tensor:
    rng = torch.Generator(device="cpu")
    rng.manual_seed(int(seed))
    return draw_noise(n, cfg.model.noise_dim, length, cfg.model, rng, device="cpu")


def network_paths(g: torch.nn.Module, cfg: GanConfig, st: condition.States, rows: np.ndarray,
                  noise: torch.Tensor, horizon: int, device: str = "cpu") -> np.ndarray:
    """Generator output ``(len(rows), horizon, k)`` in the scaled space.

    ``rows[i]`` is the state (index into ``st``) of path ``i``, ``noise[i]`` its noise.
    """
    rows = np.asarray(rows, dtype=np.int64)
    used, inverse = np.unique(rows, return_inverse=True)
    out = []
    with torch.inference_mode():
        ctx = g.context(torch.from_numpy(st.past[used]).to(device),
                        torch.from_numpy(st.level[used]).to(device))
        for i in range(0, len(rows), PASS_PATHS):
            sl = slice(i, i + PASS_PATHS)
            c = ctx[torch.from_numpy(inverse[sl]).to(device)]
            out.append(g.paths(noise[sl].to(device), c)[:, :horizon].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, horizon, st.past.shape[2]), np.float32)


def to_log_returns(gan: Any, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Scaled generator output ``(..., horizon, k)`` to log returns: the calibration, the
    origin's scale ``sigma`` (broadcast against ``y[..., 0, :]``), then the preprocessing."""
    cal = gan.meta.get("calibration") or {}
    if cal.get("kind") == "conditional-body":
        y = apply_body(np.asarray(y, dtype=np.float64), cal["body"])
    x = np.asarray(y, dtype=np.float64) * np.expand_dims(sigma, -2)
    return gan.preprocessor.inverse(x).astype(np.float32)


def fit_conditional_calibration(cfg: GanConfig, g: torch.nn.Module,
                                train: np.ndarray) -> dict[str, Any]:
    """The body map of pooled scaled futures, generated vs real, over training origins.

    ``g`` is the trained generator (eval mode), ``train`` the standardised training returns.
    """
    cc, window = cfg.condition, cfg.data.window
    train = np.asarray(train, dtype=np.float64)
    eligible = np.arange(condition.first_origin(cc.past), len(train) - window)
    st_all = condition.states(train, eligible, cc.past, cc.vol_decay)
    real = condition.futures(train, eligible, window, st_all.sigma).reshape(-1, train.shape[1])
    pick = np.unique(np.linspace(0, len(eligible) - 1, CALIBRATION_ORIGINS).round().astype(int))
    rows = np.repeat(pick, CALIBRATION_PATHS)
    noise = _noise(cfg, len(rows), g.noise_length(window), CALIBRATION_SEED)
    fake = network_paths(g, cfg, st_all, rows, noise, window).reshape(-1, train.shape[1])
    return {"kind": "conditional-body", "origins": int(len(pick)),
            "paths_per_origin": CALIBRATION_PATHS, "horizon": window, "seed": CALIBRATION_SEED,
            "body": fit_body(fake.astype(np.float64), real.astype(np.float64),
                             tails=cfg.preprocess.body_tails)}


def origin_seed(seed: int, key: str) -> int:
    """Noise seed of the origin named ``key`` (its ISO date) in run ``seed``."""
    return derive_seed(seed, int(stream(seed, f"origin:{key}").integers(2**62)))


def sample_origins(gan: Any, st: condition.States, n: int, horizon: int, seeds: list[int],
                   device: str = "cpu") -> np.ndarray:
    """``n`` paths from each state: ``(len(seeds), n, horizon, k)`` log returns (float32).

    ``seeds[i]`` draws the noise of state ``i``; states are batched into shared passes.
    """
    g = gan.generator(device)
    length = g.noise_length(horizon)
    m = len(seeds)
    noise = torch.cat([_noise(gan.config, n, length, s) for s in seeds]) if m else None
    if noise is None:
        return np.zeros((0, n, horizon, gan.k), np.float32)
    y = network_paths(g, gan.config, st, np.repeat(np.arange(m), n), noise, horizon, device)
    return to_log_returns(gan, y.reshape(m, n, horizon, -1), st.sigma[:, None, :])


@dataclass
class StateSampler:
    """A conditional model bound to market states, sampled like an unconditional one.

    With one state every path starts from it (a set as of a date); with many, each path
    starts from a state drawn uniformly with the block's seed (the model's long-run
    distribution over the training years). ``sample`` has the signature of
    :meth:`~ganjobs.model.folder.GanModel.sample`, so scenario parts are built the same way.
    """

    gan: Any
    states: condition.States

    @property
    def symbols(self) -> list[str]:
        return self.gan.symbols

    def sample(self, n: int, horizon: int, seed: int, device: str = "cpu") -> np.ndarray:
        g = self.gan.generator(device)
        m = len(self.states.sigma)
        rows = (np.zeros(n, dtype=np.int64) if m == 1
                else stream(seed, "origins").integers(m, size=n))
        noise = _noise(self.gan.config, n, g.noise_length(horizon), seed)
        y = network_paths(g, self.gan.config, self.states, rows, noise, horizon, device)
        return to_log_returns(self.gan, y, self.states.sigma[rows])
