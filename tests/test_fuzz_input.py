"""Property-based: random malformed price tables give success or `error:` + exit 2, never a
traceback, and nothing is written."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganjobs.cli import main

cells = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["2020-01-02", "2020-13-45", "", "NaN", "-1", "0", "1e309", "A", "\"", ","]),
)
headers = st.lists(st.sampled_from(["date", "symbol", "close", "open", "Date", "CLOSE", "x", ""]),
                   min_size=0, max_size=5)


@st.composite
def csv_bodies(draw) -> bytes:
    cols = draw(headers)
    rows = draw(st.lists(st.lists(cells, min_size=len(cols), max_size=len(cols)), max_size=8))
    lines = [",".join(cols)] + [",".join(r) for r in rows]
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        body = draw(st.binary(max_size=64)) + body
    return body


def _check(capsys, code: int) -> None:
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=csv_bodies())
def test_random_tables_never_crash(tmp_path, capsys, body):
    path = tmp_path / "prices.csv"
    path.write_bytes(body)
    _check(capsys, main(["validate", str(path)]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.one_of(st.integers(-10, 3), st.text(max_size=4)),
       horizon=st.one_of(st.integers(-10, 3), st.text(max_size=4)),
       url=st.sampled_from(["gs://x/y", "", "s3://", "ftp://h/p", "rel/path", "s3:///k"]))
def test_random_generate_arguments_never_crash(tmp_path, capsys, n, horizon, url):
    out = tmp_path / "out"
    code = main(["generate", "--model", url or "''", "--out", str(out), "--n", str(n),
                 "--horizon", str(horizon)])
    _check(capsys, code)
    assert code == 2 and not out.exists()


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a/../../b"])
def test_names_cannot_escape_root(name):
    from ganjobs.errors import StorageError
    from ganjobs.io.storage import join

    with pytest.raises(StorageError):
        join(os.getcwd(), name)
