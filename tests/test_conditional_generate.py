"""Scenario sets from today's market: a conditional model trained by the engine, sets as of a
date, long-run sets, and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganjobs.cli import main
from ganjobs.generate.command import generate_scenarios
from ganjobs.io.storage import read_bytes
from ganjobs.scenarios import FORMAT, open_scenarios


def _prices_until(sample_dir: str, last: str, out) -> str:
    """The bundled prices up to and including ``last``, as one long-layout CSV."""
    from ganjobs.data.sample import bundled_prices

    p = bundled_prices()
    p = p[p["date"] <= pd.Timestamp(last)]
    out.mkdir()
    p.to_csv(out / "prices.csv", index=False, float_format="%.17g")
    return str(out)


@pytest.fixture(scope="module")
def cond_model(tmp_path_factory, sample_dir):
    from ganjobs.train.command import train_model

    prices = _prices_until(sample_dir, "2004-12-31", tmp_path_factory.mktemp("p") / "prices")
    out = str(tmp_path_factory.mktemp("model") / "m")
    train_model(prices=prices, out=out, symbols=["SPX", "WTI"], preset="tiny-daily",
                workers=1, seed=5)
    return out


def _part(url: str) -> bytes:
    return read_bytes(f"{url}/part-00000.parquet")


def test_set_as_of_a_date_records_its_state(cond_model, sample_dir, tmp_path):
    out = str(tmp_path / "set")
    m = generate_scenarios(cond_model, out, n=300, horizon=5, seed=1, prices=sample_dir,
                           as_of="2008-10-15", progress=False)
    assert m["format"] == FORMAT == "ganjobs.scenarios/2"
    c = m["conditioning"]
    assert c["mode"] == "as-of" and c["as_of"] == "2008-10-15"
    assert c["history"]["first_date"] == "1999-01-04"
    assert c["history"]["last_date"] == "2008-10-15"
    assert len(c["history"]["sha256"]) == 64
    vol = c["state"]["realized_vol_annualised"]
    assert set(vol) == {"SPX", "WTI"} and vol["SPX"] > 0.4  # October 2008 was turbulent
    assert m["model"]["location"] == cond_model
    paths = open_scenarios(out).paths()
    assert paths.shape == (300, 5, 2) and np.isfinite(paths).all()


def test_as_of_uses_prices_up_to_that_date_only(cond_model, sample_dir, tmp_path):
    """The same set from prices that end at the as-of date and from prices that go on."""
    short = _prices_until(sample_dir, "2008-10-15", tmp_path / "short")
    a = generate_scenarios(cond_model, str(tmp_path / "a"), n=200, horizon=5, seed=2,
                           prices=short, progress=False)
    b = generate_scenarios(cond_model, str(tmp_path / "b"), n=200, horizon=5, seed=2,
                           prices=sample_dir, as_of="2008-10-15", progress=False)
    assert a["conditioning"]["as_of"] == b["conditioning"]["as_of"] == "2008-10-15"
    assert a["conditioning"]["history"]["sha256"] == b["conditioning"]["history"]["sha256"]
    assert _part(str(tmp_path / "a")) == _part(str(tmp_path / "b"))


def test_turbulent_state_gives_wider_paths_than_a_calm_one(cond_model, sample_dir, tmp_path):
    def spread(day: str) -> float:
        out = str(tmp_path / day)
        generate_scenarios(cond_model, out, n=1000, horizon=1, seed=3, prices=sample_dir,
                           as_of=day, progress=False)
        return float(open_scenarios(out).paths()[:, 0, 0].std())

    assert spread("2008-10-15") > 2.0 * spread("2006-06-01")


def test_date_without_prices_takes_the_last_one_before(cond_model, sample_dir, tmp_path):
    m = generate_scenarios(cond_model, str(tmp_path / "s"), n=10, horizon=2, seed=0,
                           prices=sample_dir, as_of="2008-10-18", progress=False)  # Saturday
    assert m["conditioning"]["as_of"] == "2008-10-17"
    assert m["conditioning"]["as_of_requested"] == "2008-10-18"


def test_long_run_set_draws_states_from_the_training_years(cond_model, sample_dir, tmp_path):
    m = generate_scenarios(cond_model, str(tmp_path / "s"), n=100, horizon=3, seed=0,
                           prices=sample_dir, unconditional=True, progress=False)
    c = m["conditioning"]
    assert c["mode"] == "long-run" and c["model_conditional"]
    assert c["states"]["last_date"] <= "2004-12-31" and c["states"]["count"] > 1000


@pytest.mark.parametrize("extra, msg", [
    ([], "a conditional model needs --prices"),
    (["--prices", "PRICES", "--as-of", "15/10/2008"], "--as-of '15/10/2008': give a date"),
    (["--prices", "PRICES", "--as-of", "1999-02-01"], "needs at least"),
    (["--prices", "PRICES", "--as-of", "2008-10-15", "--unconditional"], "exclude each other"),
])
def test_bad_conditioning_refused(cond_model, sample_dir, tmp_path, capsys, extra, msg):
    out = tmp_path / "set"
    args = [a.replace("PRICES", sample_dir) for a in extra]
    code = main(["generate", "--model", cond_model, "--out", str(out), "--n", "5",
                 "--horizon", "2", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and msg in err and "\n" not in err
    assert not out.exists()


def test_cli_prints_the_as_of_date(cond_model, sample_dir, tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["generate", "--model", cond_model, "--out", str(out), "--n", "5",
                 "--horizon", "2", "--prices", sample_dir]) == 0
    assert "from the state as of 2018-12-28" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["conditioning"]["as_of"] == "2018-12-28"
