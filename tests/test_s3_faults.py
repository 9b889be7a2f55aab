"""S3 faults on a real endpoint: throttling and dropped connections are retried with backoff;
a permanent error fails clearly. A loopback proxy in front of moto injects the faults."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from ganjobs.data.prices import load_market_data
from ganjobs.data.sample import write_sample_data
from ganjobs.errors import StorageError
from ganjobs.io.storage import read_bytes, write_bytes

SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
          b"<Message>Access Denied</Message></Error>")


class FaultyProxy:
    """Forwards HTTP to ``upstream``; the first ``throttle`` requests get 503 SlowDown and the
    next ``drop`` have their connection closed without an answer; ``always`` answers every
    request with 403 AccessDenied."""

    def __init__(self, upstream: str, throttle: int = 0, drop: int = 0, always: bool = False):
        self.upstream = urlsplit(upstream)
        self.throttle, self.drop, self.always = throttle, drop, always
        self.seen = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.seen += 1
                    n = proxy.seen
                if proxy.always or n <= proxy.throttle:
                    code, body = (403, DENIED) if proxy.always else (503, SLOWDOWN)
                    self.send_response(code)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    # No body after a HEAD (as S3 does): stray bytes on a kept-alive
                    # connection made the client see a broken response at random and retry.
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                if n <= proxy.throttle + proxy.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def lake(s3_env, s3_server):
    url = f"s3://{s3_env}/prices"
    write_sample_data(url)
    return url, s3_server


@pytest.mark.parametrize("throttle,drop", [(3, 0), (0, 2), (2, 2)])
def test_transient_errors_are_retried(lake, monkeypatch, throttle, drop):
    url, upstream = lake
    expected = load_market_data(url).fingerprint
    proxy = FaultyProxy(upstream, throttle=throttle, drop=drop)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
    try:
        assert load_market_data(url).fingerprint == expected
        write_bytes(url.rsplit("/", 1)[0] + "/out/x.bin", b"payload")
        assert read_bytes(url.rsplit("/", 1)[0] + "/out/x.bin") == b"payload"
        assert proxy.seen > throttle + drop  # the faults really happened
    finally:
        proxy.close()


def test_permanent_error_fails_clearly(lake, monkeypatch):
    url, upstream = lake
    proxy = FaultyProxy(upstream, always=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
    try:
        with pytest.raises(StorageError) as info:
            read_bytes(url + "/symbol=SPX/prices.parquet")
        assert "access denied" in str(info.value) or "403" in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
        # Throttling gets 8 attempts with backoff (about 20 s); a denial is not retried.
        assert proxy.seen < 8, f"a permanent error was sent {proxy.seen} times"
    finally:
        proxy.close()
