"""The quality bench's command line: overrides reach the config the bench trains."""
from __future__ import annotations

import pytest

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
