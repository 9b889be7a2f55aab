"""The quality benches: command-line overrides reach the config; the null bench scores a world."""
from __future__ import annotations

import numpy as np
import pytest

from bench.bench_null import null_scores, summarize
from bench.bench_quality import parse_overrides
from ganjobs.config import resolve_config


def test_set_overrides_are_read_as_json_then_text_and_reach_the_config():
    over = parse_overrides(["model.lag1_news=true", "loss.facts_weight=30", "model.arch=tcn"])
    assert over == {"model.lag1_news": True, "loss.facts_weight": 30, "model.arch": "tcn"}
    cfg = resolve_config("default", **over)
    assert cfg.model.lag1_news is True
    assert cfg.loss.facts_weight == 30


@pytest.mark.parametrize("item", ["lag1_news", "=true", ""])
def test_set_without_key_and_value_is_refused(item: str):
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides([item])


def test_null_bench_scores_a_world_against_itself(sample_dir):
    """The null bench's repetition: a history and paths of one fitted GARCH-t, scored by the
    evaluation; every reported score is finite and the summary covers them all."""
    from ganjobs.data.prices import load_market_data

    train = load_market_data(sample_dir, ["SPX", "WTI"]).returns[-1500:]
    rng = np.random.default_rng(0)
    reps = []
    for _ in range(2):
        scores, windows = null_scores(train, ["SPX", "WTI"], "garch-t", 200, 100, rng)
        reps.append(scores)
    assert set(scores) == {"discriminative/joint", *(f"{m}/{s}" for m in
                           ("acf_abs", "leverage", "emd_1d", "emd_20d") for s in ("SPX", "WTI"))}
    assert windows > 0 and all(np.isfinite(v) for r in reps for v in r.values())
    summary = summarize(reps)
    assert summary["acf_abs/SPX"]["mean"] == np.mean([r["acf_abs/SPX"] for r in reps])
