"""The training engine apart from the market: the typed worker config, another kind of data
behind the task interface, the command's one configuration check, and the console's lines.

All real: the standalone engine on the CPU, ``rich`` rendering into a string.
"""

from __future__ import annotations

import io
import pickle
import re

import numpy as np
import pytest
import torch
from torch import nn

from ganjobs.config import resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.model.preprocess import Preprocessor
from ganjobs.model.task import MarketTask
from ganjobs.train.loop import train_loop_per_worker
from ganjobs.train.progress import BarDisplay, ProgressDisplay, end_line, milestone, step_line
from ganjobs.train.task import GanTask
from ganjobs.train.worker_config import RAY_CONFIG_KEY, WorkerConfig, as_worker_config


@pytest.fixture(scope="module")
def train_data(sample_dir) -> np.ndarray:
    from ganjobs.data.prices import load_market_data

    returns = load_market_data(sample_dir).returns[:1500]
    return Preprocessor.fit(returns).transform(returns).astype(np.float32)


# --- the typed worker config -----------------------------------------------------------------

def test_worker_config_is_typed_picklable_and_trains_like_the_mapping_form(train_data):
    cfg = resolve_config("tiny", steps=3, seed=4)
    typed = WorkerConfig(gan=cfg, task=MarketTask, data=train_data, threads=1)
    shipped = pickle.loads(pickle.dumps({RAY_CONFIG_KEY: typed}))  # as Ray ships it
    assert as_worker_config(shipped).gan == cfg
    a = train_loop_per_worker(shipped)
    b = train_loop_per_worker({"gan": cfg.model_dump(), "data": train_data, "threads": 1})
    assert a["metrics"]["g_hash"] == b["metrics"]["g_hash"]
    assert set(a["metrics"]) >= {"d_loss", "g_loss", "gp", "facts"}


@pytest.mark.parametrize("bad, match", [
    ({"gan": {}, "threads": 1}, "neither 'data' nor 'data_path'"),
    ({"gan": {}, "data": [[0.0]], "steps": 3}, "unknown training config keys: steps"),
    ({"gan": {}, "data": [[0.0]], "threads": -2}, "threads must be a positive integer"),
])
def test_worker_config_refuses_what_no_worker_could_run(bad, match):
    with pytest.raises(GanjobsError, match=match):
        as_worker_config(bad)
    with pytest.raises(GanjobsError, match="WorkerConfig or a mapping"):
        as_worker_config([("gan", {})])


def test_market_task_refuses_data_that_is_not_a_finite_table(train_data):
    cfg = resolve_config("tiny")
    bad = train_data.copy()
    bad[3, 1] = np.nan
    for data in (bad, train_data[:, 0]):
        with pytest.raises(GanjobsError, match=r"finite \(T, k\) array"):
            MarketTask(cfg, data, torch.device("cpu"))
    with pytest.raises(GanjobsError, match="fewer than the window"):
        MarketTask(cfg, train_data[:5], torch.device("cpu"))


# --- another kind of data: rows of a table ---------------------------------------------------

class TableTask:
    """Rows of a numeric table, fully connected networks, a Wasserstein loss and a mean
    matching term: nothing the engine was written for."""

    terms = ("moment",)

    def __init__(self, cfg, data: np.ndarray, device: torch.device) -> None:
        self.rows = torch.tensor(np.asarray(data, dtype=np.float32), device=device)
        self.device = device
        self.batch_mean = self.rows.mean(0)

    def describe(self) -> str:
        return "table/wgan"

    def log_terms(self) -> tuple[str, ...]:
        return self.terms

    def build(self, init: torch.Generator) -> tuple[nn.Module, nn.Module]:
        k = self.rows.shape[1]
        g = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, k))
        d = nn.Sequential(nn.Linear(k, 16), nn.ReLU(), nn.Linear(16, 1))
        with torch.no_grad():
            for p in [*g.parameters(), *d.parameters()]:
                p.copy_(0.3 * torch.randn(p.shape, generator=init))
        return g, d

    def _noise(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(batch, 4, generator=rng, device=self.device)

    def real_batch(self, batch, rng):
        return self.rows[torch.randint(len(self.rows), (batch,), generator=rng,
                                       device=self.device)]

    def fake_batch(self, generator, batch, rng):
        return generator(self._noise(batch, rng)).float()

    def critic_loss(self, critic, real, fake, rng):
        s_real, s_fake = critic(torch.cat([real, fake])).split(real.shape[0])
        return s_fake.mean() - s_real.mean(), {}

    def generator_loss(self, generator, critic, batch, rng):
        rows = generator(self._noise(batch, rng))
        adversarial = -critic(rows).mean()
        moment = (rows.mean(0) - self.batch_mean).pow(2).sum()
        return adversarial + moment, adversarial, {"moment": moment}

    def config_record(self) -> dict:
        return {"task": "table", "columns": int(self.rows.shape[1])}

    def check_resume(self, saved: dict) -> None:
        if saved != self.config_record():
            raise GanjobsError("checkpoint of another table")


def _table_run(rows: np.ndarray, steps: int, ckpt: str | None = None) -> dict:
    cfg = resolve_config("tiny", steps=steps, seed=2, n_critic=2, checkpoint_every=2)
    return train_loop_per_worker(WorkerConfig(gan=cfg, task=TableTask, data=rows, threads=1,
                                              checkpoint_dir=ckpt))


def test_another_kind_of_data_plugs_into_the_engine_and_resumes_exactly(tmp_path, capfd):
    assert isinstance(TableTask(None, np.zeros((3, 2)), torch.device("cpu")), GanTask)
    rows = np.random.default_rng(0).normal(1.0, 2.0, size=(300, 3)).astype(np.float32)
    straight = _table_run(rows, 6)
    assert straight["step"] == 6 and not straight["recoveries"]
    last = straight["history"][-1]
    assert {"d_loss", "g_loss", "moment"} <= set(last) and "facts" not in last
    assert all(np.isfinite(h["moment"]) for h in straight["history"])
    assert "training table/wgan from step 0 to 6" in capfd.readouterr().err

    ckpt = str(tmp_path / "ckpt")
    _table_run(rows, 4, ckpt)
    resumed = _table_run(rows, 6, ckpt)
    assert resumed["start_step"] == 4
    assert resumed["metrics"]["g_hash"] == straight["metrics"]["g_hash"]
    for key, tensor in straight["generator"].items():
        assert torch.equal(tensor, resumed["generator"][key]), key
    with pytest.raises(GanjobsError, match="another table"):
        _table_run(rows[:, :2], 8, ckpt)


# --- one configuration check, options named as given ----------------------------------------

def test_options_and_overrides_are_validated_once_by_the_config():
    from ganjobs.train.command import resolve_run_config

    cfg = resolve_run_config("tiny", {"model.noise_halflives": [20, 80, 320], "steps": 9},
                             **{"train.steps": 3, "train.workers": None})
    assert cfg.model.noise_halflives == [20, 80, 320]
    assert cfg.train.steps == 3 and cfg.train.workers == 1  # the option wins; None: not given
    with pytest.raises(GanjobsError, match=r"--steps \(train\.steps\): .*greater than or equal"):
        resolve_run_config("tiny", None, **{"train.steps": 0})
    # A value from --set is named by its key: the option was not used.
    with pytest.raises(GanjobsError) as err:
        resolve_run_config("tiny", {"train.steps": 0})
    assert "train.steps:" in str(err.value) and "--steps" not in str(err.value)
    with pytest.raises(GanjobsError, match="mapping of config fields"):
        resolve_run_config("tiny", [("train.steps", 3)])


# --- the console ----------------------------------------------------------------------------

_METRICS = {"step": 200, "d_loss": -1.23456, "g_loss": 0.5, "gp": 0.01, "facts": 12.0,
            "steps_per_s": 3.14159, "samples_per_s": 201.06}


def _events() -> list[dict]:
    report = {"kind": "report", "step": 200, "total": 800, "terms": ["gp", "facts"],
              "metrics": _METRICS}
    return [{"kind": "start", "step": 0, "total": 800, "line": "training tcn/wgan-gp from "
             "step 0 to 800 on 2 worker(s), device cpu, batch 64/worker"},
            {"kind": "tick", "step": 150, "total": 800},
            {**report, "checkpoint": False},
            {**report, "checkpoint": True},
            {"kind": "log", "line": "recovery 1/3: critic exploded at step 201"}]


def test_lines_without_a_terminal_are_the_milestones_only():
    out = io.StringIO()
    display = ProgressDisplay(out)
    for event in _events():
        display.handle(event)
    display.finish(end_line({"step": 800, "steps_done": 800, "train_seconds": 245.04,
                             "mean_steps_per_s": 3.2648}, 800))
    display.close()
    assert out.getvalue().splitlines() == [
        "[ganjobs.train] training tcn/wgan-gp from step 0 to 800 on 2 worker(s), device cpu, "
        "batch 64/worker",
        "[ganjobs.train] step 200/800 d_loss -1.2346 g_loss 0.5000 gp 0.0100 facts 12.0000 "
        "3.14 steps/s 201 samples/s, checkpoint",
        "[ganjobs.train] recovery 1/3: critic exploded at step 201",
        "[ganjobs.train] finished: step 800/800, 800 steps in 245.0 s, 3.26 steps/s",
    ]
    assert milestone({"kind": "tick", "step": 3, "total": 9}) is None
    assert end_line({"step": 8, "steps_done": 0}, 8) == ("finished: already at step 8/8, "
                                                         "nothing to train")


def test_standalone_step_lines_keep_their_format():
    assert step_line(_METRICS, 800, ("gp",)) == (
        "step 200/800 d_loss -1.2346 g_loss 0.5000 gp 0.0100 3.14 steps/s 201 samples/s")


def test_bar_on_a_terminal_shows_steps_rate_and_losses():
    from rich.console import Console

    buffer = io.StringIO()
    display = BarDisplay(Console(file=buffer, force_terminal=True, width=80,
                                 color_system=None))
    for event in _events():
        display.handle(event)
    task = display.progress.tasks[0]
    assert (task.completed, task.total) == (200, 800)
    assert task.fields["rate"] == "3.14 steps/s"
    assert task.fields["losses"] == "d_loss -1.235 g_loss 0.500"
    display.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert "200/800" in text and "3.14 steps/s" in text and "d_loss -1.235" in text
