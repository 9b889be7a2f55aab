"""ganjobs' conditional model as a backtest forecaster (the interface of
:class:`ganjobs.forecast.base.Forecaster`).

``fit`` trains a model with ``ganjobs train`` (Ray Train, the run's preset) on the prices up
to the last one before the refit date, written to a work folder; ``scenarios`` conditions it
on the history up to each origin. The unconditional row shares the trained model and draws
long-run paths from its training years' states, once per refit: what a set made at the refit
and used until the next would have said.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ganjobs.core.seeds import named_seed
from ganjobs.errors import GanjobsError
from ganjobs.io.storage import join, write_bytes
from ganjobs.model import condition


class GanTrainer:
    """Trains (or finds, when already trained) the model of each refit date."""

    def __init__(self, data: Any, work: str, preset: str | None, steps: int | None,
                 seed: int, address: str | None, overrides: dict[str, Any] | None) -> None:
        self.data, self.work = data, work
        self.preset, self.steps, self.seed = preset, steps, seed
        self.address, self.overrides = address, overrides or {}
        self.gan: Any = None
        self.train_returns: np.ndarray | None = None
        self.seconds: list[float] = []

    def fit(self, returns: np.ndarray) -> None:
        import time

        from ganjobs.model.folder import load_model
        from ganjobs.train.command import train_model

        p = len(returns)
        if not np.array_equal(returns, self.data.returns[:p]):
            raise GanjobsError("the model is fitted on a prefix of the backtest's returns")
        day = str(pd.Timestamp(self.data.dates[p]).date())  # the last price it sees
        prices = join(self.work, f"prices-{day}")
        model = join(self.work, f"model-{day}")
        write_bytes(join(prices, "prices.csv"), _long_csv(self.data, p + 1))
        t0 = time.perf_counter()
        train_model(prices, model, preset=self.preset, steps=self.steps, seed=self.seed,
                    address=self.address, overrides=self.overrides,
                    storage_path=join(self.work, "ray"), run_name=f"backtest-{day}")
        self.seconds.append(time.perf_counter() - t0)
        self.gan = load_model(model)
        if not self.gan.conditional:
            raise GanjobsError(f"preset {self.preset!r} trains a long-run model; the backtest "
                               "needs a conditional one (e.g. --preset daily)")
        self.train_returns = np.asarray(returns, dtype=np.float64)


def _long_csv(data: Any, n_prices: int) -> bytes:
    dates = pd.DatetimeIndex(data.dates[:n_prices]).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": np.repeat(dates, len(data.symbols)),
                          "symbol": np.tile(data.symbols, n_prices),
                          "close": data.closes[:n_prices].reshape(-1)})
    return frame.to_csv(index=False, float_format="%.17g").encode()


class GanForecaster:
    """Paths from the state at each origin (``ganjobs``)."""

    name = "ganjobs"

    def __init__(self, trainer: GanTrainer, device: str = "cpu") -> None:
        self.trainer, self.device = trainer, device

    def fit(self, returns: np.ndarray) -> None:
        self.trainer.fit(returns)

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        from ganjobs.model.conditional_sample import origin_seed, sample_origins

        gan = self.trainer.gan
        cc = gan.config.condition
        x = gan.preprocessor.transform(np.asarray(returns, dtype=np.float64))
        st = condition.states(x, np.asarray(origins), cc.past, cc.vol_decay)
        seeds = [origin_seed(seed, key) for key in keys]
        return sample_origins(gan, st, n, horizon, seeds, self.device)


class GanLongRunForecaster:
    """Long-run paths of the same model, drawn once per refit (``ganjobs-unconditional``)."""

    name = "ganjobs-unconditional"
    #: Paths of the one long-run sample per refit, per path asked for at an origin.
    OVERSAMPLE = 4

    def __init__(self, trainer: GanTrainer, device: str = "cpu") -> None:
        self.trainer, self.device = trainer, device
        self._cache: np.ndarray | None = None

    def fit(self, returns: np.ndarray) -> None:
        # The model is the conditional row's (trained once per refit date); drop the sample.
        if self.trainer.train_returns is None or len(returns) != len(self.trainer.train_returns):
            raise GanjobsError("the long-run row is fitted after the conditional one")
        self._cache = None

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        from ganjobs.model.conditional_sample import StateSampler

        if self._cache is None or self._cache.shape[2] != horizon:
            gan, train = self.trainer.gan, self.trainer.train_returns
            cc = gan.config.condition
            x = gan.preprocessor.transform(train)
            eligible = np.arange(condition.first_origin(cc.past), len(x))
            st = condition.states(x, eligible, cc.past, cc.vol_decay)
            key = f"long-run:{len(train)}"
            self._cache = StateSampler(gan, st).sample(n * self.OVERSAMPLE, horizon,
                                                       named_seed(seed, key),
                                                       self.device)[None]
        return np.broadcast_to(self._cache, (len(origins), *self._cache.shape[1:]))

