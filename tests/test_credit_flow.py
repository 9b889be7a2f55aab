"""The credit pipeline: real Prefect (test harness), real local Ray, a local lake and, for the
Ray Jobs path, a real `ray start` head and S3 (moto's server). No mocks.

One run on the bundled credit_data table (preset table-tiny, a few steps) is shared by the
tests of this module; a second identical run must write nothing, and a bad table must fail
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

# The `ray start` head of the cluster tests (module-scoped there, a new one here).
from test_jobs import ray_head  # noqa: F401

AS_OF = "2024-06-28"
STEPS = 20


def _params(table: dict, **over):
    from flows.credit_params import CreditParams

    base = dict(data=table["data"], schema_url=table["schema"], root=table["root"],
                name="loans", preset="table-tiny", steps=STEPS, seed=4, as_of=AS_OF)
    base.update(over)
    return CreditParams(**base)


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, mtime_ns) of every file under ``root``."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The bundled credit_data table and its schema file in a fresh local lake."""
    import ray

    from ganjobs.tabular.credit import write_sample_credit

    ray.shutdown()  # a local cluster of this module's own, none left behind
    lake = tmp_path_factory.mktemp("lake")
    write_sample_credit(str(lake / "credit"))
    yield {"data": str(lake / "credit" / "credit_data.parquet"),
           "schema": str(lake / "credit" / "credit_data.schema.yaml"),
           "root": str(lake / "tables"), "lake": lake}
    ray.shutdown()


@pytest.fixture(scope="module")
def first_run(harness, table):
    from flows.credit_pipeline import credit_pipeline

    state = credit_pipeline(_params(table), return_state=True)
    assert state.is_completed(), state.message
    return state.result()


# --------------------------------------------------------------------------- fast


def test_flow_modules_do_not_import_torch():
    code = ("import flows.credit_pipeline, flows.demo, sys; "
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _identity(**over):
    from flows.credit_params import CreditParams, credit_identity

    table = {"sha256": "a" * 64, "schema": {"columns": [{"name": "x", "kind": "numeric"}],
                                            "target": "y"}, "target": "y"}
    table.update(over.pop("table", {}))
    params = CreditParams(**{"data": "t.parquet", "root": "r", **over})
    return credit_identity(params, table, "0.1.0+src.x")


def test_run_id_is_deterministic_and_input_sensitive():
    from flows.credit_params import credit_run_id

    base = credit_run_id(_identity())
    assert base == credit_run_id(_identity()) and base.startswith("t") and len(base) == 13
    # Where things are and how the run is executed do not change the outputs...
    for same in ({"root": "s3://b/x"}, {"data": "other/t.parquet"}, {"as_of": "2020-01-01"},
                 {"ray_address": "http://head:8265"}, {"overwrite": True}, {"name": "x"}):
        assert credit_run_id(_identity(**same)) == base, same
    # ...the data, the schema and the knobs do.
    for other in ({"seed": 1}, {"steps": 5}, {"preset": "table-tiny"}, {"dp_epsilon": 1.0},
                  {"rows": 10}, {"workers": 2}, {"table": {"sha256": "b" * 64}},
                  {"table": {"schema": {"columns": [], "target": "y"}}}):
        assert credit_run_id(_identity(**other)) != base, other


@pytest.mark.parametrize("over, match", [
    ({"name": "Bad/Name"}, "name must be"),
    ({"dp_epsilon": 0}, "greater than 0"),
    ({"rows": 0}, "greater than or equal to 1"),
    ({"target": " "}, "must not be empty"),
    ({"prices": "p"}, "Extra inputs are not permitted"),
])
def test_params_refuse_bad_values(over, match):
    from pydantic import ValidationError

    from flows.credit_params import CreditParams

    with pytest.raises(ValidationError, match=match):
        CreditParams(**{"data": "t.parquet", "root": "r", **over})


def test_params_refuse_an_unknown_url_scheme():
    from flows.credit_params import CreditParams
    from ganjobs.errors import StorageError

    with pytest.raises(StorageError, match="unsupported URL scheme 'ftp://'"):
        CreditParams(data="ftp://x/t.csv", root="r")


def test_layout_of_a_run():
    from flows.credit_params import CreditLayout

    lay = CreditLayout(root="s3://b/tables", name="loans", as_of=AS_OF, run_id="tabc")
    run = f"s3://b/tables/loans/{AS_OF}/tabc"
    assert (lay.run, lay.model, lay.loan_book, lay.evaluation, lay.record, lay.latest) == (
        run, f"{run}/model", f"{run}/loan-book", f"{run}/evaluation", f"{run}/run.json",
        "s3://b/tables/loans/LATEST")


def test_remote_commands_carry_the_run_options():
    from flows.credit_remote import synth_args, train_table_args
    from flows.credit_tasks import SynthTask, TrainTableTask

    train = TrainTableTask(data="s3://b/t.parquet", schema_url="s3://b/t.yaml", target="Status",
                           model_url="s3://b/m", preset="table-tiny", steps=7, workers=None,
                           seed=3, dp_epsilon=1.5, data_sha256="a" * 64, run_name="loans-t1")
    args = train_table_args(train)
    assert args[0] == "train-table"
    pairs = dict(zip(args[1::2], args[2::2], strict=True))
    assert pairs == {"--data": "s3://b/t.parquet", "--out": "s3://b/m", "--seed": "3",
                     "--name": "loans-t1",
                     "--schema": "s3://b/t.yaml", "--target": "Status",
                     "--preset": "table-tiny", "--steps": "7", "--dp-epsilon": "1.5"}
    plain = train_table_args(train.model_copy(update={"schema_url": None, "dp_epsilon": None}))
    assert "--schema" not in plain and "--dp-epsilon" not in plain and "--workers" not in plain
    synth = synth_args(SynthTask(model_url="s3://b/m", out="s3://b/book", n=500, seed=3,
                                 run_name="loans-t1"))
    assert synth == ["synth", "--model", "s3://b/m", "--out", "s3://b/book", "--n", "500",
                     "--seed", "3"]


def test_submit_accepts_the_table_kinds_only(capsys):
    from ganjobs.cli import main
    from ganjobs.cluster.jobs import check_kind

    for kind in ("train", "generate", "train-table", "synth"):
        assert check_kind(kind) == kind
    assert main(["submit", "evaluate-table", "--name", "x", "--address",
                 "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: submit: KIND must be one of")
    assert "train-table, synth" in err[0]


def test_run_record_is_written_in_one_step_and_latest_moves_forward(tmp_path):
    from flows.credit_params import CreditLayout
    from flows.credit_publish import latest_record, run_complete, write_record
    from flows.publish import move_pointer, read_latest
    from ganjobs.io.publisher import Publisher

    def run(as_of: str, run_id: str) -> dict:
        lay = CreditLayout(root=str(tmp_path), name="loans", as_of=as_of, run_id=run_id)
        for url in (lay.model, lay.loan_book, lay.evaluation):
            with Publisher(url) as pub:
                pub.commit({"format": "test"})
        record = {"name": "loans", "as_of": as_of, "run_id": run_id, "run": lay.run,
                  "model": lay.model, "loan_book": lay.loan_book,
                  "evaluation": {"report": f"{lay.evaluation}/report.html",
                                 "metrics": f"{lay.evaluation}/metrics.json"},
                  "headline": {"rows": [], "bars": []}, "data": {"sha256": "a" * 64}}
        assert not run_complete(lay)  # folders without the record: not a complete run
        write_record(lay.record, record)
        assert run_complete(lay) and not Path(lay.record + ".tmp").exists()
        assert json.loads(Path(lay.record).read_text()) == record
        return latest_record(record)

    latest = str(tmp_path / "loans" / "LATEST")

    def move(rec: dict) -> bool:
        return move_pointer(latest, rec, target="loan_book", order="as_of",
                            same=("run_id", "as_of"))

    first = run("2024-01-02", "ta")
    assert first["manifest"].endswith("loan-book/manifest.json")
    assert move(first) and not move(first)
    assert not move(run("2024-01-01", "tb"))  # a back-fill leaves LATEST alone
    assert move(run("2024-01-03", "tc")) and read_latest(latest)["run_id"] == "tc"


def test_headline_keeps_utility_fidelity_and_privacy_of_each_method():
    from flows.credit_artifacts import headline, summary_markdown

    def method(auc: float, copies: int) -> dict:
        return {"utility": {"logistic": {"tstr_auc": auc, "trtr_auc": 0.8, "auc_ratio": auc / 0.8},
                            "boosting": {"tstr_auc": None}},
                "fidelity": {"score": 0.9, "columns": {"Age": 0.95}},
                "privacy": {"mia_auc": 0.51, "exact_copies": copies},
                "bars": [{"bar": "no exact copies of a train row", "metric": "x",
                          "value": copies, "threshold": 0, "met": copies == 0}]}

    head = headline({"reference": {}, "methods": {"smote": method(0.7, 3),
                                                  "ganjobs": method(0.76, 0)}})
    assert [r["model"] for r in head["rows"]] == ["ganjobs", "smote"]
    ours = head["rows"][0]
    assert ours["TSTR AUC (logistic)"] == 0.76 and ours["TSTR/TRTR (logistic)"] == 0.76 / 0.8
    assert ours["TSTR AUC (boosting)"] is None and ours["exact copies"] == 0
    assert "Age" not in str(ours)  # per-column detail stays in metrics.json
    assert head["bars"] == [{"bar": "no exact copies of a train row", "value": 0,
                             "threshold": 0, "met": True}]
    text = summary_markdown({"name": "loans", "as_of": AS_OF, "run_id": "tabc",
                             "published": True, "loan_book_url": "/l/b", "rows": 10,
                             "target": "Status", "report_url": "/l/r.html",
                             "metrics_url": "/l/m.json", "model_url": "/l/m", "dp": None,
                             "latest_url": "/l/LATEST", "latest_updated": True,
                             "data_sha256": "a" * 64, "code_version": "0+src.x",
                             "headline": head})
    assert "Quality bars met: 1 of 1" in text
    assert "| ganjobs | 0.76 | 0.8 | 0.95 |" in text


def test_command_line_refuses_bad_parameters(capsys):
    from flows.credit_pipeline import main

    assert main(["--data", "t.parquet", "--root", "r", "--name", "Bad/Name"]) == 2
    assert "name must be" in capsys.readouterr().err
    assert main(["--data", "ftp://x/t.csv", "--root", "r"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unsupported URL scheme")


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_run_publishes_model_loan_book_evaluation_and_latest(first_run, table):
    from ganjobs.io.publisher import is_published, read_manifest
    from ganjobs.io.storage import read_json
    from ganjobs.tabular.split import split_table
    from ganjobs.tabular.table_io import read_table
    from ganjobs.tabular.validate import load_table

    s = first_run
    assert s["published"] and s["latest_updated"]
    run = f"{table['root']}/loans/{AS_OF}/{s['run_id']}"
    assert (s["run_url"], s["loan_book_url"], s["model_url"]) == (
        run, f"{run}/loan-book", f"{run}/model")
    for folder in ("model", "loan-book", "evaluation"):
        assert is_published(f"{run}/{folder}"), folder
    assert sorted(p.name for p in Path(run).iterdir()) == [
        "evaluation", "loan-book", "model", "run.json"]

    loaded = load_table(table["data"], table["schema"])
    m = read_manifest(s["loan_book_url"])
    split = split_table(loaded.frame, loaded.schema.target, seed=m["split"]["seed"])
    assert m["format"] == "ganjobs.table/1" and m["target"] == "Status"
    assert m["rows"] == len(split.train) == s["rows"]  # default size: the training part
    assert m["split"]["sha256"] == split.record()["sha256"]
    assert m["data"]["sha256"] == loaded.sha256 == s["data_sha256"]
    assert m["schema"] == loaded.schema.to_dict() and m["seed"] == 4
    assert m["model"]["url"] == s["model_url"] and m["model"]["dp"] is None
    book = read_table(s["loan_book_url"])
    assert list(book.columns) == loaded.schema.names and len(book) == m["rows"]

    assert Path(s["report_url"]).read_text().lstrip().lower().startswith("<!doctype html")
    record = read_json(s["record_url"])
    assert record["format"] == "ganjobs.table-run/1" and record["run_id"] == s["run_id"]
    assert record["identity"]["data_sha256"] == loaded.sha256
    assert record["identity"]["schema"] == loaded.schema.to_dict()
    assert record["split"]["sha256"] == m["split"]["sha256"]
    latest = read_json(s["latest_url"])
    assert latest["format"] == "ganjobs.latest-table/1"
    assert (latest["run_id"], latest["loan_book"], latest["report"]) == (
        s["run_id"], s["loan_book_url"], s["report_url"])
    rows = {r["model"]: r for r in s["headline"]["rows"]}
    assert s["headline"]["rows"][0]["model"] == "ganjobs"
    assert {"ganjobs", "gaussian_copula"} <= set(rows)
    metrics = read_json(s["metrics_url"])["methods"]["ganjobs"]
    assert rows["ganjobs"]["TSTR AUC (logistic)"] == metrics["utility"]["logistic"]["tstr_auc"]
    assert 0 < rows["ganjobs"]["TRTR AUC (boosting)"] <= 1
    assert rows["ganjobs"]["MIA AUC"] == metrics["privacy"]["mia_auc"]
    assert [b["met"] for b in s["headline"]["bars"]] == [b["met"] for b in metrics["bars"]]


@pytest.mark.slow
def test_run_creates_artifacts(first_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[first_run["flow_run_id"]])))
    by_key = {a.key: a for a in arts}
    summary = by_key["loans-summary"].data
    assert by_key["loans-summary"].type == "markdown"
    assert first_run["loan_book_url"] in summary and "## Headline metrics" in summary
    assert "| model | TSTR AUC (logistic) |" in summary and "| ganjobs |" in summary
    assert f"(file://{first_run['report_url']})" in by_key["loans-report"].data


@pytest.mark.slow
def test_identical_rerun_writes_nothing(first_run, table):
    from flows.credit_pipeline import credit_pipeline

    root = Path(table["root"])
    before = _snapshot(root)
    state = credit_pipeline(_params(table), return_state=True)
    assert state.is_completed(), state.message
    again = state.result()
    assert again["run_id"] == first_run["run_id"]
    assert not again["published"] and not again["latest_updated"]
    assert again["headline"] == first_run["headline"]
    assert _snapshot(root) == before


@pytest.mark.slow
@pytest.mark.parametrize("defect", ["single-row category", "unknown schema column"])
def test_bad_table_fails_before_anything_is_written(harness, table, tmp_path, defect):
    import pandas as pd
    import yaml

    from flows.credit_pipeline import credit_pipeline

    frame = pd.read_parquet(table["data"])
    schema = table["schema"]
    if defect == "single-row category":
        frame.loc[frame.index[0], "Home"] = "castle"
    else:
        spec = yaml.safe_load(Path(table["schema"]).read_text())
        spec["columns"]["no_such_column"] = {"type": "numeric"}
        schema = str(tmp_path / "schema.yaml")
        Path(schema).write_text(yaml.safe_dump(spec))
    data = str(tmp_path / "bad.parquet")
    frame.to_parquet(data, index=False)
    root = tmp_path / "tables"
    state = credit_pipeline(_params(table, data=data, schema_url=schema, root=str(root)),
                            return_state=True)
    assert state.is_failed()
    assert ("castle" if defect == "single-row category" else "no_such_column") in state.message
    assert not root.exists() or not any(root.rglob("*"))


@pytest.mark.slow
def test_command_line_entry_runs_the_flow(first_run, table, capsys):
    """`python -m flows.credit_pipeline` on the same inputs: the published run, reported."""
    from flows.credit_pipeline import main

    assert main(["--data", table["data"], "--schema", table["schema"], "--root",
                 table["root"], "--name", "loans", "--preset", "table-tiny", "--steps",
                 str(STEPS), "--seed", "4", "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "already published" in out and first_run["loan_book_url"] in out
    assert first_run["report_url"] in out


@pytest.mark.slow
def test_interrupted_run_redoes_only_what_is_missing(first_run, table):
    """A run that stopped after training and synthesis (no evaluation, no record) is
    completed by the next identical run: the model and the loan book are kept byte for byte
    and LATEST stays where it is. (Runs after the tests that read the first run as is.)"""
    from flows.credit_pipeline import credit_pipeline
    from flows.publish import remove_tree

    run = Path(first_run["run_url"])
    remove_tree(str(run / "evaluation"))
    (run / "run.json").unlink()
    kept = {d: _snapshot(run / d) for d in ("model", "loan-book")}
    latest = Path(first_run["latest_url"]).read_bytes()
    state = credit_pipeline(_params(table), return_state=True)
    assert state.is_completed(), state.message
    again = state.result()
    assert again["published"] and not again["latest_updated"]
    assert (run / "run.json").exists() and (run / "evaluation" / "_SUCCESS").exists()
    assert {d: _snapshot(run / d) for d in ("model", "loan-book")} == kept
    assert Path(first_run["latest_url"]).read_bytes() == latest
    assert again["headline"] == first_run["headline"]


@pytest.mark.slow
def test_jobs_api_runs_training_and_synthesis_as_jobs(harness, ray_head, s3_env,  # noqa: F811
                                                      tmp_path):
    """With a Jobs API address the flow submits train-table and synth to the cluster: this
    process starts no Ray of its own, and the jobs carry the run's name."""
    import ray
    from ray.job_submission import JobSubmissionClient

    from flows.credit_params import CreditParams
    from flows.credit_pipeline import credit_pipeline
    from ganjobs.cluster.jobs import submission_id
    from ganjobs.io.publisher import is_published, read_manifest
    from ganjobs.tabular.credit import write_sample_credit

    ray.shutdown()
    lake = f"s3://{s3_env}"
    write_sample_credit(f"{lake}/credit")
    params = CreditParams(data=f"{lake}/credit/credit_data.parquet",
                          schema_url=f"{lake}/credit/credit_data.schema.yaml",
                          root=f"{lake}/tables", name="remote", preset="table-tiny",
                          steps=STEPS, rows=300, seed=2, as_of=AS_OF, ray_address=ray_head)
    state = credit_pipeline(params, return_state=True)
    assert state.is_completed(), state.message
    s = state.result()
    assert not ray.is_initialized()
    assert is_published(s["model_url"]) and is_published(s["loan_book_url"])
    assert read_manifest(s["loan_book_url"])["rows"] == 300
    client = JobSubmissionClient(ray_head)
    jobs = {j.submission_id: j.status.value for j in client.list_jobs()}
    run_name = f"remote-{s['run_id']}"
    for kind in ("train-table", "synth"):
        assert jobs.get(submission_id(kind, run_name)) == "SUCCEEDED", jobs

