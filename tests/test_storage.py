"""Storage layer: URLs, AWS settings, atomic publishing, on local disk and a real S3 endpoint."""

from __future__ import annotations

import pytest

from ganjobs.errors import StorageError
from ganjobs.io.publisher import Publisher, is_published, read_manifest
from ganjobs.io.storage import exists, filesystem, join, read_bytes, split_url, write_bytes


def test_split_url_schemes(tmp_path):
    assert split_url(str(tmp_path)) == ("file", str(tmp_path))
    assert split_url(f"file://{tmp_path}") == ("file", str(tmp_path))
    assert split_url("s3://bucket/a/b/") == ("s3", "bucket/a/b")
    with pytest.raises(StorageError, match="unsupported URL scheme 'gs://'"):
        split_url("gs://bucket/x")
    with pytest.raises(StorageError, match="no bucket"):
        split_url("s3:///x")


def test_join_refuses_escape():
    assert join("s3://b/p", "x", "y.json") == "s3://b/p/x/y.json"
    with pytest.raises(StorageError, match="escapes"):
        join("s3://b/p", "../q")
    with pytest.raises(StorageError, match="escapes"):
        join("/tmp/p", "/etc/passwd")


def _publish(url: str, overwrite: bool = False) -> None:
    with Publisher(url, overwrite=overwrite) as pub:
        pub.write_part("part-00000.parquet", b"abc", rows=3)
        assert not is_published(url)  # parts alone are not a published set
        pub.commit({"format": "test/1"})


@pytest.mark.parametrize("where", ["local", "s3"])
def test_publish_is_atomic_and_protected(where, tmp_path, request):
    if where == "s3":
        bucket = request.getfixturevalue("s3_env")
        url = f"s3://{bucket}/sets/one"
    else:
        url = str(tmp_path / "sets" / "one")
    _publish(url)
    assert is_published(url)
    manifest = read_manifest(url)
    assert manifest["parts"][0]["rows"] == 3
    assert read_bytes(join(url, "part-00000.parquet")) == b"abc"
    with pytest.raises(StorageError, match="already holds a published set"):
        _publish(url)
    _publish(url, overwrite=True)
    assert is_published(url)


def test_failed_publish_leaves_nothing(tmp_path):
    url = str(tmp_path / "set")
    with pytest.raises(RuntimeError), Publisher(url) as pub:
        pub.write_part("part-00000.parquet", b"abc", rows=3)
        raise RuntimeError("boom")
    assert not is_published(url)
    with pytest.raises(StorageError, match="_SUCCESS"):
        read_manifest(url)


def test_publisher_refuses_foreign_files(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(StorageError, match="not published here"):
        Publisher(str(tmp_path)).start()
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_s3_endpoint_from_standard_setting(s3_env):
    fs, path = filesystem(f"s3://{s3_env}/x")
    write_bytes(f"s3://{s3_env}/x/y.bin", b"1")
    assert exists(f"s3://{s3_env}/x/y.bin")
    assert fs.cat_file(f"{s3_env}/x/y.bin") == b"1"


def test_s3_missing_bucket_and_bad_credentials(s3_env, monkeypatch):
    with pytest.raises(StorageError, match="bucket does not exist|not found"):
        read_bytes("s3://no-such-bucket-xyz/prices.csv")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-should-never-leak")
    # moto accepts any key unless told otherwise; keys are never echoed back in messages.
    try:
        read_bytes("s3://no-such-bucket-xyz/prices.csv")
    except StorageError as exc:
        assert "secret-should-never-leak" not in str(exc)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_concurrent_writers_never_mix(where, tmp_path, request):
    if where == "s3":
        url = f"s3://{request.getfixturevalue('s3_env')}/sets/race"
    else:
        url = str(tmp_path / "race")
    first = Publisher(url).start()
    first.write_part("part-00000.parquet", b"first", rows=1)
    with pytest.raises(StorageError, match="being written by another run"):
        Publisher(url).start()
    first.commit({"format": "test/1"})
    assert read_bytes(join(url, "part-00000.parquet")) == b"first"
    assert not exists(join(url, "_LOCK"))
    assert [p["name"] for p in read_manifest(url)["parts"]] == ["part-00000.parquet"]


def test_stale_lease_of_dead_process_is_taken_over(tmp_path):
    import json
    import socket
    import subprocess

    url = str(tmp_path / "set")
    proc = subprocess.Popen(["true"])
    proc.wait()
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "_LOCK").write_text(json.dumps(
        {"token": "x", "host": socket.gethostname(), "pid": proc.pid,
         "heartbeat": __import__("time").time()}))
    (tmp_path / "set" / "part-00000.parquet").write_bytes(b"half-written")
    _publish(url)  # a re-run after a crash completes
    assert read_bytes(join(url, "part-00000.parquet")) == b"abc"
