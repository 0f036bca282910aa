"""A loopback OpenML server for the tests: replays ../shared/openml-fixtures on 127.0.0.1.

It answers the XML API calls openml-python makes for a task and its dataset, serves the ARFF and
split files, rewrites the absolute openml.org URLs inside the responses to itself, answers unknown ids
with OpenML's error XML, and records every request so a test can check that none was sent.
"""

from __future__ import annotations

import gzip
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "openml-fixtures"
_URL_TAGS = re.compile(r"<oml:(url|data_splits_url|parquet_url)>[^<]*</oml:\1>")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class OpenMLReplay:
    """`with OpenMLReplay("www") as server:` then pull from `server.url`; `server.requests` lists paths."""

    def __init__(self, flavour: str) -> None:
        self.root = FIXTURES / flavour
        self.requests: list[str] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                replay.requests.append(self.path)
                status, body, kind = replay.answer(self.path.split("?")[0])
                data = gzip.compress(body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Encoding", "gzip")  # as openml.org does; openml warns otherwise
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.base}/api/v1/xml"

    def __enter__(self) -> OpenMLReplay:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def _xml(self, path: Path) -> bytes:
        text = path.read_text(encoding="utf-8")
        task = re.search(r"<oml:task_id>(\d+)</oml:task_id>", text)
        data = re.search(r"<oml:id>(\d+)</oml:id>", text)

        def local(match: re.Match[str]) -> str:
            tag = match.group(1)
            if tag == "parquet_url":
                return ""  # no Parquet files here: the client takes the ARFF
            target = f"/files/tasks/{task.group(1)}/datasplits.arff" if tag == "data_splits_url" else \
                f"/files/datasets/{data.group(1)}/dataset.arff"
            return f"<oml:{tag}>{self.base}{target}</oml:{tag}>"

        return _URL_TAGS.sub(local, text).encode("utf-8")

    def answer(self, path: str) -> tuple[int, bytes, str]:
        routes = [
            (r"/api/v1/xml/task/(\d+)", "tasks/{}/task.xml", 151, "Unknown task"),
            (r"/api/v1/xml/data/features/(\d+)", "datasets/{}/features.xml", 271, "Unknown dataset"),
            (r"/api/v1/xml/data/qualities/(\d+)", "datasets/{}/qualities.xml", 361, "Unknown dataset"),
            (r"/api/v1/xml/data/(\d+)", "datasets/{}/description.xml", 111, "Unknown dataset"),
            (r"/files/(tasks/\d+/datasplits\.arff|datasets/\d+/dataset\.arff)", "{}", 0, ""),
        ]
        for pattern, template, code, message in routes:
            match = re.fullmatch(pattern, path)
            if not match:
                continue
            file = self.root / template.format(match.group(1))
            if file.is_file():
                if file.suffix == ".xml":
                    return 200, self._xml(file), "text/xml"
                return 200, file.read_bytes(), "text/plain"
            if code:
                return 412, (f'<oml:error xmlns:oml="http://openml.org/openml"><oml:code>{code}</oml:code>'
                             f"<oml:message>{message}</oml:message></oml:error>").encode(), "text/xml"
        return 404, b"not found", "text/plain"


def guard_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """For a fixture: any connection or name lookup beyond loopback raises at once and fails the test."""
    attempts: list[str] = []
    connect, create_connection, getaddrinfo = socket.socket.connect, socket.create_connection, socket.getaddrinfo

    def check(host: object) -> None:
        if isinstance(host, str) and host not in _LOOPBACK:
            attempts.append(host)
            raise OSError(f"test guard: no network beyond 127.0.0.1 (tried {host})")

    def guarded_connect(self, address):
        if isinstance(address, tuple):
            check(address[0])
        return connect(self, address)

    def guarded_create_connection(address, *args, **kwargs):
        check(address[0])
        return create_connection(address, *args, **kwargs)

    def guarded_getaddrinfo(host, *args, **kwargs):
        check(host.decode() if isinstance(host, bytes) else host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    assert not attempts, f"the code tried to reach {attempts}"
