"""Security (issue #10): crafted pickles are refused, credentials never leak into outputs,
logs or Prefect records, user strings are escaped in the HTML report, names cannot escape
their root.

Everything is real: torch's loader, the CLI entry point, moto's S3 server, Ray, Prefect's
test harness. The malicious pickles would create a marker file when unpickled; every test
checks that the marker never appears.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from ganjobs.cli import main
from ganjobs.errors import GanjobsError

ACCESS_KEY = "AKIAFAKELEAKCHECK0001"
SECRET_KEY = "fakeSecretLeakCheck/abcdefghijklmnop1234"
SYMBOLS = ["SPX", "NDX"]


# --------------------------------------------------------------------------- payloads


def _touch(path: str) -> None:  # what the payload runs if ever unpickled
    Path(path).write_text("pwned")


class _Exploit:
    """Unpickling this calls ``os.system`` (or a marker-writing function)."""

    def __init__(self, marker: Path, via_system: bool = True):
        self.marker, self.via_system = str(marker), via_system

    def __reduce__(self):
        if self.via_system:
            return (os.system, (f"touch '{self.marker}'",))
        return (_touch, (self.marker,))


def _payloads(marker: Path) -> dict[str, bytes]:
    """Pickle bytes whose loading would create ``marker``: plain pickles (os.system and a
    Python function) and a torch.save'd checkpoint-like dict carrying the exploit."""
    import io

    buf = io.BytesIO()
    torch.save({"step": 1, "generator": {"w": torch.zeros(2)}, "evil": _Exploit(marker)}, buf)
    return {
        "pickle-os-system": pickle.dumps(_Exploit(marker), protocol=2),
        "pickle-function": pickle.dumps(_Exploit(marker, via_system=False)),
        "torch-save": buf.getvalue(),
    }


def test_payloads_are_live(tmp_path):
    """Sanity check of the test itself: the plain loaders would run the payload."""
    marker = tmp_path / "marker"
    pickle.loads(_payloads(marker)["pickle-function"])
    assert marker.exists()
    marker.unlink()
    pickle.loads(_payloads(marker)["pickle-os-system"])
    assert marker.exists()


# --------------------------------------------------------------------------- 1a checkpoints


@pytest.mark.parametrize("kind", ["pickle-os-system", "pickle-function", "torch-save"])
def test_crafted_checkpoint_state_is_refused(tmp_path, kind):
    from ganjobs.train.session import STATE_FILE, LocalSession, load_state

    marker = tmp_path / "marker"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / STATE_FILE).write_bytes(_payloads(marker)[kind])

    with pytest.raises(GanjobsError) as info:
        load_state(ckpt / STATE_FILE)
    assert "refused" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises((pickle.UnpicklingError, GanjobsError)):
        LocalSession(torch.device("cpu"), str(ckpt)).restore()
    assert not marker.exists()


def test_genuine_checkpoint_still_loads(tmp_path):
    from ganjobs.train.session import LocalSession

    session = LocalSession(torch.device("cpu"), str(tmp_path / "ckpt"))
    state = {"step": 3, "generator": {"w": torch.arange(4.0)}, "rng": torch.get_rng_state(),
             "opt": {"lr": 1e-3, "betas": (0.5, 0.9)}}
    session.report({"x": 1.0}, state)
    back = session.restore()
    assert back["step"] == 3 and torch.equal(back["generator"]["w"], torch.arange(4.0))


def test_crafted_checkpoint_stops_a_resumed_standalone_run(tmp_path, sample_dir):
    """The real resume path: the standalone loop given a checkpoint_dir holding the payload."""
    from ganjobs.config import resolve_config
    from ganjobs.data.prices import load_market_data
    from ganjobs.model.preprocess import Preprocessor
    from ganjobs.train.loop import train_loop_per_worker
    from ganjobs.train.session import STATE_FILE

    marker = tmp_path / "marker"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / STATE_FILE).write_bytes(_payloads(marker)["torch-save"])
    returns = load_market_data(sample_dir).returns[:300]
    data = Preprocessor.fit(returns).transform(returns).astype(np.float32)
    cfg = resolve_config("tiny", steps=2)
    with pytest.raises((pickle.UnpicklingError, GanjobsError)):
        train_loop_per_worker({"gan": cfg.model_dump(), "data": data, "threads": 1,
                               "checkpoint_dir": str(ckpt)})
    assert not marker.exists()


# --------------------------------------------------------------------------- 1b model folders


def _write_model(out: str, prices: str, symbols=SYMBOLS) -> str:
    """A real model folder (untrained tiny generator) written by the library's writer."""
    from ganjobs.config import resolve_config
    from ganjobs.core.split import split_for_training
    from ganjobs.data.prices import load_market_data
    from ganjobs.model.folder import write_model_folder
    from ganjobs.model.networks import build_generator
    from ganjobs.model.preprocess import Preprocessor

    cfg = resolve_config("tiny")
    data = load_market_data(prices, symbols)
    split = split_for_training(data, cfg.data)
    pre = Preprocessor.fit(split.train, cfg.preprocess.lambert_w)
    torch.manual_seed(0)
    g = build_generator(cfg.model, len(data.symbols), cfg.data.window)
    write_model_folder(out, cfg=cfg, generator_state=g.state_dict(), preprocessor=pre,
                       symbols=data.symbols, data_record=split.record, step=0,
                       metrics={}, training={}, created_at="2024-01-01T00:00:00+00:00")
    return out


@pytest.fixture
def model_dir(tmp_path, sample_dir):
    return _write_model(str(tmp_path / "model"), sample_dir)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("kind", ["pickle-os-system", "pickle-function", "torch-save"])
@pytest.mark.parametrize("fix_sha", [False, True], ids=["sha-stale", "sha-forged"])
def test_generate_refuses_pickled_weights(model_dir, tmp_path, capsys, kind, fix_sha):
    """generator.safetensors replaced by pickle bytes; with ``sha-forged`` the attacker also
    rewrites model.json so the recorded sha256 matches: still refused, nothing written."""
    from ganjobs.io.storage import sha256_bytes
    from ganjobs.model.folder import MODEL_JSON, WEIGHTS_FILE

    assert main(["generate", "--model", model_dir, "--out", str(tmp_path / "ok"), "--n", "4",
                 "--horizon", "3"]) == 0  # the folder is good before tampering
    capsys.readouterr()
    marker = tmp_path / "marker"
    blob = _payloads(marker)[kind]
    Path(model_dir, WEIGHTS_FILE).write_bytes(blob)
    if fix_sha:
        meta = json.loads(Path(model_dir, MODEL_JSON).read_text())
        meta["weights"].update(sha256=sha256_bytes(blob), bytes=len(blob))
        Path(model_dir, MODEL_JSON).write_text(json.dumps(meta))
    out = tmp_path / "out"
    code = main(["generate", "--model", model_dir, "--out", str(out), "--n", "4",
                 "--horizon", "3"])
    line = _one_error_line(capsys)
    assert code == 2
    assert ("unreadable weights" in line) if fix_sha else ("sha256" in line)
    assert not marker.exists()
    assert not out.exists()


def test_model_json_cannot_point_weights_at_a_pickle(model_dir, tmp_path, capsys):
    """model.json naming another file (a torch checkpoint beside it, or one outside the
    folder) as the weights: never unpickled, never read outside the folder."""
    from ganjobs.io.storage import sha256_bytes
    from ganjobs.model.folder import MODEL_JSON

    marker = tmp_path / "marker"
    blob = _payloads(marker)["torch-save"]
    Path(model_dir, "state.pt").write_bytes(blob)
    (tmp_path / "outside.pt").write_bytes(blob)
    meta_path = Path(model_dir, MODEL_JSON)
    for name in ("state.pt", "../outside.pt", str(tmp_path / "outside.pt")):
        meta = json.loads(meta_path.read_text())
        meta["weights"] = {"name": name, "sha256": sha256_bytes(blob), "bytes": len(blob)}
        meta_path.write_text(json.dumps(meta))
        out = tmp_path / "out"
        assert main(["generate", "--model", model_dir, "--out", str(out), "--n", "4",
                     "--horizon", "3"]) == 2
        line = _one_error_line(capsys)
        assert "unreadable weights" in line or "escapes" in line, line
        assert not out.exists() and not marker.exists()


# --------------------------------------------------------------------------- 3 HTML escaping

HTML_PAYLOADS = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>")


def _assert_escaped(page: str, payload: str) -> None:
    import html

    assert payload not in page
    assert html.escape(payload, quote=True) in page


def test_evaluation_report_escapes_locations(tmp_path, sample_dir):
    """Scenario, prices and output locations are user input that lands in report.html.

    Local paths may hold ``<``, ``>`` and ``"``: a folder named ``<script>alert(1)<`` with a
    sub-folder ``script>`` spells the payload."""
    import shutil

    from ganjobs.evaluate.command import evaluate_scenarios
    from ganjobs.generate.command import generate_scenarios

    base = tmp_path / HTML_PAYLOADS[1]
    prices = base / "<script>alert(1)</script>" / "prices"
    shutil.copytree(sample_dir, prices)
    model = _write_model(str(base / "model"), str(prices))
    sset = str(base / "<b>set</b>")
    generate_scenarios(model, sset, n=64, horizon=5, seed=1)
    res = evaluate_scenarios(scenarios=sset, prices=str(prices), out=str(base / "<i>ev</i>"),
                             seed=0, max_paths=64)
    page = Path(res["report_url"]).read_text()
    assert str(prices) in json.loads(Path(res["metrics_url"]).read_text())["context"]["prices"]
    for payload in (*HTML_PAYLOADS, "<b>set</b>"):
        _assert_escaped(page, payload)
    assert "<script" not in page.lower() and "onerror=" not in page.replace(
        "onerror=alert(1)&gt;", "")


def test_report_title_and_notes_are_escaped():
    """render_report's own free-text fields: title and notes."""
    from ganjobs.evaluate.report import render_report
    from ganjobs.evaluate.scoring import compute_metrics

    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 2)) * 0.01
    paths = (rng.standard_normal((32, 5, 2)) * 0.01).astype(np.float32)
    metrics = compute_metrics(real, {"ganjobs": paths}, SYMBOLS, seed=0,
                              context={"scenarios": HTML_PAYLOADS[0],
                                       "prices": HTML_PAYLOADS[1]})
    metrics["notes"].append(HTML_PAYLOADS[0])
    page = render_report(metrics, real, {"ganjobs": paths}, title=HTML_PAYLOADS[1])
    for payload in HTML_PAYLOADS:
        _assert_escaped(page, payload)


PORTFOLIO_HTML = """\
name: '<script>alert(1)</script> "><img src=x onerror=alert(1)> $\\notacommand$'
currency: '<b>USD</b> $x^$'
base_value: 1000000
positions:
  SPX: 600000
  NDX: -400000
horizons: [1, 3]
"""


def test_stress_with_hostile_portfolio_strings(tmp_path, sample_dir):
    """The stress results are JSON + PNG (no HTML page): user strings go through JSON
    verbatim and the figure is drawn (no mathtext failure on ``$...$`` names)."""
    import yaml

    from ganjobs.generate.command import generate_scenarios

    model = _write_model(str(tmp_path / "model"), sample_dir)
    sset = str(tmp_path / "set")
    generate_scenarios(model, sset, n=64, horizon=3, seed=1)
    port = tmp_path / "<script>alert(1)</script>.yaml".replace("/", "_")
    port.write_text(PORTFOLIO_HTML)
    out = tmp_path / "stress"
    code = main(["stress", "--scenarios", sset, "--portfolio", str(port), "--out", str(out),
                 "--prices", sample_dir, "--baselines", "gaussian"])
    assert code == 0
    results = json.loads((out / "stress.json").read_text())
    expected = yaml.safe_load(PORTFOLIO_HTML)
    assert results["portfolio"]["name"] == expected["name"]
    assert results["portfolio"]["currency"] == expected["currency"]
    assert (out / "stress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.suffix in (".html", ".htm", ".svg") for p in out.iterdir())


# --------------------------------------------------------------------------- 4 paths


@pytest.mark.parametrize("name", ["../up", "..", "a/../../b", "/abs", "Up", "a/b", "", ".hidden",
                                  "a\\..\\b", "x" * 64, "a\nb"])
def test_pipeline_name_cannot_escape_root(name):
    from flows.params import PipelineParams

    with pytest.raises(ValueError):
        PipelineParams(prices="p", root="r", name=name)


def test_run_layout_stays_under_root():
    from flows.params import RunLayout
    from ganjobs.errors import StorageError

    lay = RunLayout(root="s3://b/runs", name="ok", as_of="2024-01-02", run_id="r0123")
    for url in (lay.run, lay.model, lay.staging, lay.scenarios, lay.evaluation, lay.latest,
                lay.cache, lay.stress("book-1234abcd")):
        assert url.startswith("s3://b/runs/")
    with pytest.raises(StorageError):
        _ = RunLayout(root="s3://b/runs", name="..", as_of="x", run_id="r").run
    with pytest.raises(StorageError):
        lay.stress("../../elsewhere")


@pytest.mark.parametrize("path", ["../p.yaml", "/etc/../p.yaml", "a/../../p.yaml"])
def test_portfolio_tag_is_a_single_safe_segment(path):
    from flows.pipeline import _portfolio_tag

    tag = _portfolio_tag(path, "ab" * 32)
    assert "/" not in tag and tag not in ("", ".", "..") and not tag.startswith("..")


@pytest.mark.parametrize("segment", ["../x", "a/../../x", "/x", "..", "a/.."])
def test_join_refuses_escaping_segments_local_and_s3(tmp_path, segment):
    from ganjobs.errors import StorageError
    from ganjobs.io.storage import join

    for root in ("s3://bucket/root", str(tmp_path), f"file://{tmp_path}"):
        with pytest.raises(StorageError, match="escapes"):
            join(root, segment)


def test_publisher_part_names_cannot_escape(tmp_path):
    from ganjobs.errors import StorageError
    from ganjobs.io.publisher import Publisher

    with pytest.raises(StorageError), Publisher(str(tmp_path / "set")) as pub:
        pub.write_part("../evil.parquet", b"x", rows=1)
    assert not (tmp_path / "evil.parquet").exists()


# --------------------------------------------------------------------------- 2 credentials


def _needles() -> dict[str, bytes]:
    out = {}
    for label, value in (("access key", ACCESS_KEY), ("secret", SECRET_KEY)):
        out[label] = value.encode()
        out[f"{label} (url-encoded)"] = urllib.parse.quote(value, safe="").encode()
        out[f"{label} (base64)"] = base64.b64encode(value.encode())
    # The secret's tail alone (a truncated or re-wrapped copy) and its base64 at the other
    # two alignments.
    out["secret tail"] = SECRET_KEY.split("/", 1)[1].encode()
    for shift in (1, 2):
        enc = base64.b64encode(b"x" * shift + SECRET_KEY.encode())[4:-4]
        out[f"secret (base64, shift {shift})"] = enc
    return out


def _leaks(where: str, data: bytes | str) -> list[str]:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return [f"{label} in {where}" for label, needle in _needles().items() if needle in data]


def _scan_tree(root: Path, since: float = 0.0) -> list[str]:
    found = []
    for p in root.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_mtime >= since:
                found += _leaks(str(p), p.read_bytes())
        except OSError:
            continue
    return found


def _scan_bucket(client, bucket: str) -> tuple[list[str], int]:
    found, count = [], 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            count += 1
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found += _leaks(f"s3://{bucket}/{obj['Key']}", body)
            found += _leaks(f"key of s3://{bucket}/{obj['Key']}", obj["Key"])
    return found, count


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganjobs.cli", *args], env=env,
                          capture_output=True, text=True, timeout=420)


def test_leak_scanner_finds_every_encoding():
    """The scanner itself: each encoded form of the keys is found (else a pass means nothing)."""
    assert _leaks("x", f"key={ACCESS_KEY}") and _leaks("x", SECRET_KEY)
    assert _leaks("x", urllib.parse.quote(SECRET_KEY, safe=""))
    for prefix in ("", "a", "ab"):
        assert _leaks("x", base64.b64encode((prefix + SECRET_KEY).encode()))
    assert not _leaks("x", "testing testing AKIA")


def _ray_session_logs(since: float) -> list[Path]:
    """Log folders of the local Ray clusters started since ``since`` (by this test or by
    anyone else: only this test's keys are searched for)."""
    root = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray"
    out = []
    for d in root.glob("session_2*"):
        try:
            if d.is_dir() and d.stat().st_mtime >= since:
                out.append(d / "logs")
        except OSError:
            continue
    return out


@pytest.fixture(scope="module")
def leak_run(s3_server, sample_dir, tmp_path_factory):
    """The pipeline (Prefect + Ray + S3) and the CLI run with recognisable fake keys.

    Returns where copies of the keys were found: ``outputs`` (bucket, local outputs, command
    output, Prefect logs, artifacts, blocks, the Prefect database) and ``ray_logs`` (the
    session logs of the local Ray clusters started on the way)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _leak_run(s3_server, sample_dir, tmp_path_factory.mktemp("leak"), monkeypatch)


def _leak_run(s3_server, sample_dir, tmp_path, monkeypatch) -> dict[str, list[str]]:
    import boto3
    import ray
    from prefect.testing.utilities import prefect_test_harness

    since = time.time() - 1
    creds = {"AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
             "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"leak-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    from ganjobs.data.sample import write_sample_data

    write_sample_data(f"s3://{bucket}/prices")
    local = tmp_path / "local"
    local.mkdir()
    portfolio = local / "book.yaml"
    portfolio.write_text("name: leak-book\nbase_value: 1000000\npositions:\n  SPX: 600000\n"
                         "  NDX: 400000\nhorizons: [1, 5]\n")
    found: list[str] = []

    # ---- the pipeline, in process, under a Prefect test server
    ray.shutdown()  # Ray must start under these settings (and pass them to its workers)
    with prefect_test_harness(server_startup_timeout=120):
        import prefect.settings
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            FlowRunFilter,
            FlowRunFilterId,
            LogFilter,
            LogFilterFlowRunId,
        )

        from flows.params import PipelineParams
        from flows.pipeline import scenario_pipeline

        params = PipelineParams(prices=f"s3://{bucket}/prices", root=f"s3://{bucket}/runs",
                                name="leak", symbols=SYMBOLS, preset="tiny", n=32, horizon=5,
                                seed=1, portfolio=str(portfolio), eval_max_paths=32)
        state = scenario_pipeline(params, return_state=True)
        assert state.is_completed(), state.message
        summary = state.result()
        found += _leaks("flow result", json.dumps(summary, default=str))
        flow_run_id = summary["flow_run_id"]
        with get_client(sync_client=True) as pc:
            logs = pc.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            assert logs, "the flow run wrote no logs: the scan would prove nothing"
            found += _leaks("Prefect logs", "\n".join(f"{lg.name} {lg.message}" for lg in logs))
            arts = pc.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
            assert arts
            found += _leaks("Prefect artifacts", json.dumps(
                [a.model_dump(mode="json") for a in arts], default=str))
            runs = pc.read_flow_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])))
            found += _leaks("flow run record", json.dumps(
                [r.model_dump(mode="json") for r in runs], default=str))
            tasks = pc.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])))
            found += _leaks("task run records", json.dumps(
                [t.model_dump(mode="json") for t in tasks], default=str))
            blocks = pc.read_block_documents(include_secrets=True)
            found += _leaks("Prefect blocks", json.dumps(
                [b.model_dump(mode="json") for b in blocks], default=str))
        # The harness database holds everything the server recorded.
        db_url = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        db = Path(db_url.split(":///", 1)[1])
        for f in db.parent.glob(db.name + "*"):
            found += _leaks(f"Prefect database {f.name}", f.read_bytes())
        storage = prefect.settings.PREFECT_LOCAL_STORAGE_PATH.value()
        if Path(storage).is_dir():  # results, if Prefect fell back to its local storage
            found += _scan_tree(Path(storage), since)
    ray.shutdown()

    # ---- the CLI, as subprocesses with the keys in their environment
    env = {**os.environ, **creds, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("GANJOBS_DEBUG", None)
    # The pipeline's model: `ganjobs train` is the same library call the flow made above.
    model = summary["model_url"]
    sset = f"s3://{bucket}/cli/set"
    runs = {
        "generate": ["generate", "--model", model, "--out", sset, "--n", "32",
                     "--horizon", "5"],
        "evaluate": ["evaluate", "--scenarios", sset, "--prices", f"s3://{bucket}/prices",
                     "--out", str(local / "eval")],
        "stress": ["stress", "--scenarios", sset, "--portfolio", str(portfolio), "--out",
                   f"s3://{bucket}/cli/stress", "--prices", f"s3://{bucket}/prices",
                   "--baselines", "gaussian"],
        "bad-bucket": ["generate", "--model", f"s3://no-such-{bucket}/m", "--out",
                       str(local / "never"), "--n", "4", "--horizon", "2"],
        "bad-model": ["evaluate", "--scenarios", f"s3://{bucket}/cli/nothing-here",
                      "--prices", f"s3://{bucket}/prices", "--out", str(local / "never2")],
        "bad-prices": ["validate", f"s3://no-such-{bucket}/prices"],
    }
    for label, args in runs.items():
        proc = _cli(args, env)
        expect_ok = not label.startswith("bad-")
        assert (proc.returncode == 0) == expect_ok, (label, proc.returncode, proc.stderr[-3000:])
        if not expect_ok:
            assert proc.returncode == 2 and proc.stderr.strip().startswith("error:"), proc.stderr
        found += _leaks(f"stdout of {label}", proc.stdout)
        found += _leaks(f"stderr of {label}", proc.stderr)

    # ---- everything written
    found_bucket, n_objects = _scan_bucket(client, bucket)
    assert n_objects > 20
    found += found_bucket
    assert (local / "eval" / "report.html").exists()
    found += _scan_tree(local)
    ray_found: list[str] = []
    for logs in _ray_session_logs(since):
        ray_found += _scan_tree(logs, since)
    return {"outputs": sorted(set(found)), "ray_logs": sorted(set(ray_found))}


@pytest.mark.slow
def test_credentials_never_leak_into_outputs_logs_or_prefect(leak_run):
    assert not leak_run["outputs"], "credentials leaked:\n" + "\n".join(leak_run["outputs"])


@pytest.mark.slow
def test_credentials_never_leak_into_ray_session_logs(leak_run):
    assert not leak_run["ray_logs"], "credentials in Ray logs:\n" + "\n".join(
        leak_run["ray_logs"])


@pytest.mark.parametrize("name", ["plain", "a`b", "``x``", "`", "two\nlines", "<b>x</b>`)"])
def test_markdown_artifacts_keep_user_strings_in_one_code_span(name):
    """Names and paths in the Prefect markdown artifacts cannot close their code span."""
    import re

    from flows.artifacts import _code

    span = _code(name)
    fence = re.match(r"`+", span).group(0)
    inner = span[len(fence):-len(fence)]
    assert span.endswith(fence) and "\n" not in span
    assert fence not in inner and inner.strip() == " ".join(name.split())
