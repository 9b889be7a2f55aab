"""Table evaluation: split, baselines, fidelity, utility, privacy, bars, the command."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from ganjobs.cli import main
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher, is_published
from ganjobs.tabular.evaluation.baselines import BASELINES, baseline_tables
from ganjobs.tabular.evaluation.command import evaluate_table
from ganjobs.tabular.evaluation.encode import canonical, take
from ganjobs.tabular.evaluation.fidelity import FidelityReference, fidelity, ks_statistic
from ganjobs.tabular.evaluation.frames import evaluate_frames
from ganjobs.tabular.evaluation.privacy import PrivacyReference, privacy
from ganjobs.tabular.evaluation.utility import expected_calibration_error
from ganjobs.tabular.schema import ColumnSpec, TableSchema
from ganjobs.tabular.split import split_from_record, split_table

SCHEMA = TableSchema((
    ColumnSpec("income", "numeric", 0.0),
    ColumnSpec("amount", "integer", 500.0, 40_000.0),
    ColumnSpec("rate", "numeric", 0.0, 100.0),
    ColumnSpec("grade", "categorical"),
    ColumnSpec("purpose", "categorical"),
    ColumnSpec("issued", "date"),
    ColumnSpec("status", "categorical"),
), target="status")


def loans(n: int, seed: int) -> pd.DataFrame:
    """A loan book in the coerced dtypes: correlated columns, missing values, a bad class
    driven by grade, rate and income."""
    rng = np.random.default_rng(seed)
    income = np.exp(rng.normal(10.8, 0.5, n))
    grade_num = rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.12, 0.08])
    rate = np.clip(6 + 4 * grade_num + rng.normal(0, 1.5, n), 0, 100)
    amount = np.clip(np.round(income * rng.uniform(0.1, 0.4, n)), 500, 40_000)
    income[rng.random(n) < 0.05] = np.nan
    purpose = rng.choice(["car", "card", "debt", "home"], n).astype(object)
    purpose[rng.random(n) < 0.04] = None
    issued = pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D")
    logit = -3.2 + 0.9 * grade_num - 0.6 * (np.log(np.nan_to_num(income, nan=50_000)) - 10.8)
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "income": income, "amount": amount.astype(np.float64), "rate": rate,
        "grade": np.array(list("ABCDE"), dtype=object)[grade_num], "purpose": purpose,
        "issued": pd.Series(issued).astype("datetime64[ns]"),
        "status": np.where(bad, "bad", "good").astype(object)})


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return loans(1500, 0)


# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------


def test_split_is_deterministic_stratified_and_recorded(real):
    a, b = split_table(real, "status", seed=3), split_table(real, "status", seed=3)
    c = split_table(real, "status", seed=4)
    for part in ("train", "holdout", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
        assert np.all(np.diff(getattr(a, part)) > 0)
    assert a.sha256 == b.sha256 != c.sha256
    together = np.concatenate([a.train, a.holdout, a.test])
    assert np.array_equal(np.sort(together), np.arange(len(real)))
    rec = a.record()
    assert rec["rows"] == {"train": 900, "holdout": 300, "test": 300}
    assert rec["fractions"] == {"train": 0.6, "holdout": 0.2, "test": 0.2}
    assert rec["stratified_by"] == "status" and rec["seed"] == 3
    json.dumps(rec)
    overall = (real["status"] == "bad").mean()
    for part in ("train", "holdout", "test"):
        share = (real["status"].iloc[getattr(a, part)] == "bad").mean()
        assert abs(share - overall) < 1.5 / len(getattr(a, part)) + 1e-12
    assert split_from_record(real, rec).sha256 == a.sha256


def test_split_refuses_another_table_and_bad_fractions(real):
    rec = split_table(real, "status", seed=0).record()
    changed = real.copy()
    changed.loc[10, "rate"] = changed.loc[10, "rate"] + 1.0  # same rows, other content
    with pytest.raises(GanjobsError, match="not the one the model was trained on"):
        split_from_record(changed, rec)
    with pytest.raises(GanjobsError, match="not the one the model was trained on"):
        split_from_record(real.iloc[:-3], rec)
    with pytest.raises(GanjobsError, match="holdout"):
        split_table(real, "status", holdout=0.5, test=0.5)
    with pytest.raises(GanjobsError, match="column nope"):
        split_table(real, "nope")


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------


def test_baselines_respect_dtypes_bounds_and_missing_rates(real):
    split = split_table(real, "status", seed=0)
    train = real.iloc[split.train]
    tables = baseline_tables(train, SCHEMA, 700, seed=5)
    assert list(tables) == list(BASELINES)
    again = baseline_tables(train, SCHEMA, 700, seed=5)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, again[name])
        assert len(table) == (700 if name != "real_train" else min(700, len(train)))
        assert list(table.columns) == SCHEMA.names
        assert table["income"].dtype == np.float64 and table["rate"].dtype == np.float64
        assert str(table["amount"].dtype) == "Int64"
        assert table["issued"].dtype == "datetime64[ns]"
        for col in ("grade", "purpose", "status"):
            assert table[col].dtype == object
            assert all(v is None or isinstance(v, str) for v in table[col])
            assert set(table[col].dropna()) <= set(train[col].dropna())
        for spec in SCHEMA.columns:
            if spec.minimum is not None:
                assert table[spec.name].dropna().min() >= spec.minimum, (name, spec.name)
            if spec.maximum is not None:
                assert table[spec.name].dropna().max() <= spec.maximum, (name, spec.name)
        assert table["issued"].min() >= train["issued"].min()
        assert table["issued"].max() <= train["issued"].max()
    # Missing rates survive resampling and the copula's missing indicator.
    for name in ("independent", "gaussian_copula"):
        assert abs(tables[name]["income"].isna().mean() - train["income"].isna().mean()) < 0.03
        assert abs(tables[name]["purpose"].isna().mean()
                   - train["purpose"].isna().mean()) < 0.03
    # The copula keeps the rank correlation of income and amount; independence loses it.
    rho = train[["income", "amount"]].corr("spearman").iloc[0, 1]
    cop = tables["gaussian_copula"][["income", "amount"]].astype(float).corr("spearman")
    ind = tables["independent"][["income", "amount"]].astype(float).corr("spearman")
    assert abs(cop.iloc[0, 1] - rho) < 0.1 and abs(ind.iloc[0, 1]) < 0.1 < rho


# --------------------------------------------------------------------------------------------
# Metrics on cases with a known answer
# --------------------------------------------------------------------------------------------


def test_ks_and_calibration_on_known_cases():
    a = np.arange(10.0)
    assert ks_statistic(a, a) == 0.0
    assert ks_statistic(a, a + 100) == 1.0
    assert ks_statistic(a, np.arange(5.0)) == pytest.approx(0.5)
    y = np.r_[np.zeros(50), np.ones(50)]
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.r_[np.full(50, 0.2), np.full(50, 0.9)]) \
        == pytest.approx(0.15)


def test_fidelity_high_for_holdout_and_shuffled_columns_lose_pair_trends(real):
    split = split_table(real, "status", seed=0)
    cols = canonical(real, SCHEMA)
    train = take(cols, split.train)
    ref = FidelityReference.build(train, SCHEMA)
    hold = fidelity(ref, take(cols, split.holdout))
    assert hold["score"] > 0.9 and hold["detection_auc"] < 0.65
    assert all(score > 0.8 for score in hold["columns"].values())
    rng = np.random.default_rng(1)
    shuffled = {k: v[rng.permutation(len(v))] for k, v in train.items()}
    shuf = fidelity(ref, shuffled)
    assert shuf["column_score"] == pytest.approx(1.0)  # same values, same marginals
    assert shuf["pair_score"] < hold["pair_score"]
    assert shuf["detection_auc"] > 0.7
    # The pairs the generator ties together lose their trend; the holdout keeps it.
    held = {(a, b): s for a, b, s in hold["pairs"]}
    lost = {(a, b): s for a, b, s in shuf["pairs"]}
    for pair, margin in ((("income", "amount"), 0.1), (("rate", "grade"), 0.1),
                         (("grade", "status"), 0.03)):
        assert lost[pair] < held[pair] - margin, pair


def test_privacy_of_a_copy_and_of_fresh_samples():
    real = loans(1200, 2)
    # Train as large as holdout: a copy of train is a copy of the whole train sample.
    split = split_table(real, "status", seed=0, holdout=0.4, test=0.2)
    cols = canonical(real, SCHEMA)
    ref = PrivacyReference.build(take(cols, split.train), take(cols, split.holdout), SCHEMA)
    copy = privacy(ref, take(cols, split.train))
    assert copy["share_closer_to_train"] == 1.0
    assert copy["exact_copies"] == len(split.train) and copy["exact_copy_share"] == 1.0
    assert copy["near_copy_share"] == 1.0 and copy["mia_auc"] > 0.95
    assert copy["dcr_train_median"] == 0.0
    fresh = privacy(ref, canonical(loans(2000, 99), SCHEMA))
    assert 0.44 < fresh["share_closer_to_train"] < 0.56
    assert 0.44 < fresh["mia_auc"] < 0.56
    assert fresh["exact_copies"] == 0
    assert 0.85 < fresh["dcr_ratio"] < 1.15


# --------------------------------------------------------------------------------------------
# evaluate_frames and bars
# --------------------------------------------------------------------------------------------


def test_evaluate_frames_ranks_baselines_and_assesses_bars(real):
    split = split_table(real, "status", seed=0)
    tables = baseline_tables(real.iloc[split.train], SCHEMA, len(split.train), seed=0)
    tables["fresh"] = loans(len(split.train), 7)
    res = evaluate_frames(real, SCHEMA, split, tables, seed=0, dp_epsilon={"fresh": 1.0})
    json.dumps(res, allow_nan=False)
    assert res["bad_label"] == "bad"
    trtr = res["reference"]["trtr"]
    assert trtr["logistic"]["auc"] > 0.7
    m = res["methods"]
    # The real train rows themselves: same model, same data -> TSTR equals TRTR.
    assert m["real_train"]["utility"]["logistic"]["auc_ratio"] == pytest.approx(1.0, abs=0.01)
    assert m["real_train"]["fidelity"]["score"] == pytest.approx(1.0)
    assert m["real_train"]["privacy"]["exact_copy_share"] == 1.0
    # Independent columns keep the marginals but lose the signal.
    assert m["independent"]["utility"]["logistic"]["tstr_auc"] < 0.62
    assert m["independent"]["fidelity"]["column_score"] > 0.9
    assert m["independent"]["fidelity"]["pair_score"] < m["fresh"]["fidelity"]["pair_score"]
    assert m["smote"]["privacy"]["share_closer_to_train"] > 0.6
    bars = {b["metric"]: b for b in m["fresh"]["bars"]}
    assert len(m["fresh"]["bars"]) == 6
    assert bars["privacy.exact_copies"]["met"] is True
    assert bars["utility.logistic.tstr_auc"]["threshold"] == pytest.approx(
        0.90 * trtr["logistic"]["auc"])  # the DP bar
    copula = m["gaussian_copula"]["fidelity"]["score"]
    assert bars["fidelity.score"]["threshold"] == copula
    real_bars = {b["metric"]: b["met"] for b in m["real_train"]["bars"]}
    assert real_bars["privacy.exact_copies"] is False and real_bars["privacy.mia_auc"] is False


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _publish_set(url: str, synth: pd.DataFrame, record: dict, eps: float | None = None) -> None:
    """A synthetic set as `ganjobs synth` publishes it: Parquet parts, manifest, _SUCCESS."""
    with Publisher(url) as pub:
        half = len(synth) // 2
        for i, part in enumerate((synth.iloc[:half], synth.iloc[half:])):
            pub.write_part(f"part-{i:05d}.parquet", _parquet(part), rows=len(part))
        pub.commit({
            "format": "ganjobs.table/1", "rows": len(synth), "columns": SCHEMA.names,
            "schema": SCHEMA.to_dict(), "target": SCHEMA.target, "split": record,
            "model": {"url": "model", "sha256": "0" * 64,
                      "dp": None if eps is None else {"epsilon": eps, "delta": 1e-5}},
            "data": {"source": "real.parquet", "sha256": "0" * 64}, "seed": 0, "where": None,
            "code_version": "test"})


@pytest.fixture(scope="module")
def published(tmp_path_factory, real):
    root = tmp_path_factory.mktemp("evaluate_table")
    real_url = str(root / "real.parquet")
    real.to_parquet(real_url, index=False)
    split = split_table(real, "status", seed=0)
    synth = baseline_tables(real.iloc[split.train], SCHEMA, 600, seed=1)["gaussian_copula"]
    _publish_set(str(root / "synth"), synth, split.record())
    return root, real_url


def test_evaluate_table_end_to_end(published):
    root, real_url = published
    out = str(root / "eval")
    result = evaluate_table(str(root / "synth"), real_url, out, seed=0)
    assert is_published(out)
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["ganjobs", *BASELINES]
    assert metrics["methods"]["ganjobs"]["rows"] == 600
    assert metrics["context"]["real_matches_recorded_file"] is False
    assert result["manifest"]["format"] == "ganjobs.table-evaluation/1"
    page = (root / "eval" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2
    assert "quality bars met by <b>ganjobs</b>" in page and "<script" not in page


def test_cli_prints_summary_and_refuses_another_real_table(published, tmp_path, capsys):
    root, real_url = published
    out = str(tmp_path / "cli")
    code = main(["evaluate-table", "--synthetic", str(root / "synth"), "--real", real_url,
                 "--out", out, "--no-baselines", "--seed", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "ganjobs" in printed and "quality bars of ganjobs" in printed
    assert f"report:  {out}/report.html" in printed
    other = tmp_path / "other.parquet"
    changed = pd.read_parquet(real_url)
    changed.loc[0, "income"] = 123_456.0
    changed.to_parquet(other, index=False)
    bad_out = str(tmp_path / "refused")
    code = main(["evaluate-table", "--synthetic", str(root / "synth"), "--real", str(other),
                 "--out", bad_out])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "not the one the model was trained on" in err
    assert not is_published(bad_out)
