"""A local VirusTotal-compatible HTTP server for tests (and browser tests, standalone).

It answers ``GET /api/v3/ip_addresses/{ip}`` like VirusTotal does:

* 401 ``WrongCredentialsError`` unless the ``x-apikey`` header is the expected key;
* 429 ``QuotaExceededError`` once ``quota_after`` authorized requests were served;
* 200 with the stored VT v3 report for an address it has one for;
* 404 ``NotFoundError`` otherwise;
* or, for an address in ``raw``, exactly the given status, content type and bytes (to
  test answers VirusTotal should never give: not JSON, nested too deeply...).

Error bodies come from the corpus (``virustotal/error_*.json``) when it is present,
else from identical built-in ones. Every request is recorded (without the key) so tests
can assert e.g. "the second enrichment made 0 requests".

In tests::

    import vtserver                       # tests/ is on sys.path under pytest
    from vtserver import TEST_API_KEY, VTServer

    vt_server = vtserver.vt_server        # expose the fixtures to this test module
    vt_server_factory = vtserver.vt_server_factory

Standalone (e.g. for browser tests)::

    python tests/vtserver.py --port 8765 --reports ../shared/corpus/virustotal
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

log = logging.getLogger("vtserver")

TEST_API_KEY = "sauce-test-key-5f3a9c0e1d2b4a6f"
PREFIX = "/api/v3/ip_addresses/"
CORPUS = Path(
    os.environ.get("SAUCE_CORPUS", Path(__file__).resolve().parents[1].parent / "shared" / "corpus")
)
VT_CORPUS = CORPUS / "virustotal"

BUILTIN_ERRORS = {
    "NotFoundError": {
        "error": {"code": "NotFoundError", "message": 'IP address "999.999.999.999" not found'}
    },
    "WrongCredentialsError": {
        "error": {"code": "WrongCredentialsError", "message": "The provided API key is incorrect."}
    },
    "QuotaExceededError": {
        "error": {"code": "QuotaExceededError", "message": "Quota exceeded (test server)."}
    },
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered (the key itself is never recorded)."""

    method: str
    path: str
    ip: str | None
    status: int
    key_ok: bool


@dataclass(frozen=True)
class RawAnswer:
    """An answer sent as is (``VTServer.raw``): status, content type and body bytes."""

    status: int
    content_type: str
    data: bytes


def load_reports_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Every VT v3 IP report in ``directory`` keyed by ``data.id`` (other files ignored)."""
    reports: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(directory).glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and data.get("type") == "ip_address":
            reports[str(data["id"])] = body
    return reports


def load_error_bodies(directory: Path | None = VT_CORPUS) -> dict[str, dict[str, Any]]:
    """Error bodies by code: the corpus ones where present, else the built-in ones."""
    bodies = {code: json.loads(json.dumps(body)) for code, body in BUILTIN_ERRORS.items()}
    if directory is not None and Path(directory).is_dir():
        for code in bodies:
            for path in sorted(Path(directory).glob(f"error_{code}_*.json")):
                bodies[code] = json.loads(path.read_text(encoding="utf-8"))
                break
    return bodies


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (e.g. on an answer too large) is logged, not printed."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("vtserver: %s hung up", client_address)
            return
        super().handle_error(request, client_address)


class VTServer:
    """The server; ``start()``/``stop()`` or use as a context manager. ``port=0``: any port."""

    def __init__(
        self,
        reports: Mapping[str, dict[str, Any]] | Path | None = None,
        *,
        api_key: str = TEST_API_KEY,
        quota_after: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        error_dir: Path | None = VT_CORPUS,
    ) -> None:
        if isinstance(reports, str | Path):
            reports = load_reports_dir(Path(reports))
        self.reports: dict[str, dict[str, Any]] = dict(reports or {})
        self.api_key = api_key
        self.quota_after = quota_after
        self.errors = load_error_bodies(error_dir)
        self.requests: list[RecordedRequest] = []
        self.raw: dict[str, RawAnswer] = {}  # ip -> an answer sent as is (authorized only)
        self._served = 0
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def requested_ips(self) -> list[str]:
        return [r.ip for r in self.requests if r.ip is not None]

    def reset(self) -> None:
        """Forget recorded requests and the quota count."""
        with self._lock:
            self.requests.clear()
            self._served = 0

    def start(self) -> VTServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="vtserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the standalone mode)."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            print("stopped", flush=True)
        finally:
            self._httpd.server_close()

    def __enter__(self) -> VTServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(
        self, method: str, raw_path: str, key: str | None
    ) -> tuple[int, dict[str, Any] | RawAnswer]:
        """Status and body for one request (also records it)."""
        path = urlsplit(raw_path).path
        ip = unquote(path[len(PREFIX) :]) if path.startswith(PREFIX) else None
        key_ok = key == self.api_key
        with self._lock:
            if not key_ok:
                status, body = 401, self.errors["WrongCredentialsError"]
            elif self.quota_after is not None and self._served >= self.quota_after:
                status, body = 429, self.errors["QuotaExceededError"]
            elif method == "GET" and ip is not None and ip in self.raw:
                self._served += 1
                status, body = self.raw[ip].status, self.raw[ip]
            elif method == "GET" and ip is not None and ip in self.reports:
                self._served += 1
                status, body = 200, self.reports[ip]
            else:
                self._served += 1
                status = 404
                body = json.loads(json.dumps(self.errors["NotFoundError"]))  # a copy
                message = str(body["error"].get("message", ""))
                body["error"]["message"] = message.replace("999.999.999.999", ip or path)
            self.requests.append(RecordedRequest(method, path, ip, status, key_ok))
        return status, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _respond(self) -> None:
                status, body = server.answer(self.command, self.path, self.headers.get("x-apikey"))
                if isinstance(body, RawAnswer):
                    content_type, data = body.content_type, body.data
                else:
                    content_type, data = "application/json", json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _respond
            do_POST = _respond

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("vtserver: " + format, *args)

        return Handler


@pytest.fixture
def vt_server_factory() -> Iterator[Callable[..., VTServer]]:
    """Make started servers (``VTServer`` arguments); all are stopped at teardown."""
    started: list[VTServer] = []

    def make(*args: Any, **kwargs: Any) -> VTServer:
        server = VTServer(*args, **kwargs).start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def vt_server(vt_server_factory: Callable[..., VTServer]) -> VTServer:
    """A started server serving the corpus IP reports (skips when the corpus is absent)."""
    if not VT_CORPUS.is_dir():
        pytest.skip(f"VirusTotal corpus not found at {VT_CORPUS} (set SAUCE_CORPUS)")
    return vt_server_factory(VT_CORPUS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reports", type=Path, action="append", default=[])
    parser.add_argument("--api-key", default=TEST_API_KEY)
    parser.add_argument("--quota-after", type=int, default=None)
    args = parser.parse_args(argv)
    reports: dict[str, dict[str, Any]] = {}
    for directory in args.reports:
        reports.update(load_reports_dir(directory))
    server = VTServer(
        reports, api_key=args.api_key, quota_after=args.quota_after, host=args.host, port=args.port
    )
    print(f"VirusTotal test server at {server.url} ({len(reports)} reports)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
