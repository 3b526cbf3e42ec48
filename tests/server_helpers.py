"""Fixtures and helpers for the server-extension tests (loaded via ``pytest_plugins``).

A real Jupyter server (pytest-jupyter) with the jupyter_sauce extension enabled, its
case store in a temp dir, the starter rules by default and no VirusTotal key; responses
are checked against the shipped OpenAPI document with jsonschema.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tornado.httpclient import HTTPClientError, HTTPResponse

from jupyter_sauce import demo
from jupyter_sauce.pcapwrite import Record, udp_frame, write_pcap

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
ET_OPEN = CORPUS / "rules" / "et-open-2024-04-21"
NMAP = CORPUS / "pcaps" / "esnet-curated" / "nmap_80_all.pcap"
VT_CORPUS = CORPUS / "virustotal"
VT_REPORT = VT_CORPUS / "ip_138.128.150.133_opencti.json"
API = ("sauce", "api")

needs_suricata = pytest.mark.skipif(shutil.which("suricata") is None, reason="suricata not on PATH")
needs_et_open = pytest.mark.skipif(
    not (ET_OPEN.is_dir() and NMAP.is_file()),
    reason=f"corpus ET Open rules / nmap capture not found under {CORPUS} (set SAUCE_CORPUS)",
)

SPEC: dict[str, Any] = json.loads(
    files("jupyter_sauce.server").joinpath("openapi.json").read_text("utf-8")
)


@pytest.fixture
def sauce_settings() -> dict[str, Any]:
    """Per-test overrides merged into the server config (edit before the server starts)."""
    return {}


@pytest.fixture
def jp_server_config(
    tmp_path: Path, sauce_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    # no VirusTotal key unless a test configures one (api_key, api_key_file or VT_API_KEY)
    monkeypatch.delenv("VT_API_KEY", raising=False)
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"jupyter_sauce": True}},
        "StoreConfig": {"store_dir": str(tmp_path / "store")},
        "RulesConfig": {"rules": "starter", "data_dir": str(tmp_path / "rules-data")},
    }
    for section, values in sauce_settings.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def sauce_app(jp_serverapp: Any) -> Any:
    """The running SauceApp extension."""
    return next(iter(jp_serverapp.extension_manager.extension_apps["jupyter_sauce"]))


@pytest.fixture
def demo_capture(jp_root_dir: Path) -> Path:
    """The built-in Szechuan demo capture, at ``cases/demo.pcap`` under the root dir."""
    (jp_root_dir / "cases").mkdir(parents=True, exist_ok=True)
    return demo.write_demo_capture(jp_root_dir / "cases" / "demo.pcap")


def dns_capture(path: Path, names: list[str]) -> Path:
    """A pcap of DNS queries (UDP to 8.8.8.8:53 from 10.42.85.10), one packet per name."""
    records = []
    for i, name in enumerate(names):
        qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        query = (0x1000 + i).to_bytes(2, "big") + bytes.fromhex("0100000100000000 0000")
        payload = query + qname + bytes.fromhex("00010001")
        frame = udp_frame(
            "00:0c:29:00:00:01", "00:0c:29:00:00:02", "10.42.85.10", "8.8.8.8",
            50000 + i, 53, payload,
        )  # fmt: skip
        records.append(Record(1_600_000_000_000_000 + i * 1000, frame))
    return write_pcap(path, records)


def body(response: HTTPResponse) -> Any:
    return json.loads(response.body.decode("utf-8"))


async def call(jp_fetch: Callable, method: str, *parts: str, **kwargs: Any) -> HTTPResponse:
    """jp_fetch under sauce/api that returns error responses instead of raising."""
    if method in ("POST", "PUT") and "body" not in kwargs:
        kwargs["body"] = b""
    try:
        return await jp_fetch(*API, *parts, method=method, **kwargs)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.response


async def wait_for(
    jp_fetch: Callable,
    run_id: str,
    states: tuple[str, ...] = ("done", "failed", "cancelled"),
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Poll a run until it reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        run = body(await call(jp_fetch, "GET", "runs", run_id))
        if run["state"] in states:
            return run
        assert time.monotonic() < deadline, f"run still {run['state']}: {run}"
        await asyncio.sleep(0.1)


def assert_error(
    response: HTTPResponse, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """``response`` is the one JSON error shape with this status (and code, field)."""
    assert response.code == status, response.body
    error = body(response)["error"]
    assert set(error) == {"status", "code", "message", "field"} and error["status"] == status
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


def one_sentence(message: str) -> bool:
    """A single sentence for people: one line, ends with a full stop, no second sentence."""
    return (
        bool(message)
        and "\n" not in message
        and message.endswith(".")
        and len(re.split(r"(?<=[.!?])\s+(?=[A-Z])", message)) == 1
    )


def _operation(method: str, template: str) -> dict[str, Any]:
    return SPEC["paths"][template][method.lower()]


def check_openapi(method: str, template: str, response: HTTPResponse) -> None:
    """Assert ``response`` is documented for ``method template`` and its JSON conforms."""
    responses = _operation(method, template)["responses"]
    doc = responses.get(str(response.code)) or responses.get("default")
    assert doc is not None, f"{response.code} not documented for {method} {template}"
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip()
    if "content" not in doc:
        assert not response.body
        return
    assert ctype in doc["content"], f"{ctype} not documented for {method} {template}"
    if ctype == "application/json":
        schema = {**doc["content"][ctype]["schema"], "components": SPEC["components"]}
        jsonschema.Draft202012Validator(schema).validate(body(response))


def suricata_children() -> list[int]:
    """Pids of Suricata processes whose parent is this test process."""
    found = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and b"suricata" in cmd.split(b"\0")[0]:
            found.append(int(entry.name))
    return found


#: every endpoint with a request that reaches its handler (method, OpenAPI path, URL parts,
#: body); the run id is one no run has
ENDPOINTS = [
    ("GET", "/status", ("status",), None),
    ("GET", "/openapi.json", ("openapi.json",), None),
    ("GET", "/captures", ("captures",), None),
    ("GET", "/runs", ("runs",), None),
    ("POST", "/runs", ("runs",), json.dumps({"path": "cases/demo.pcap"})),
    ("GET", "/runs/{run_id}", ("runs", "0" * 32), None),
    ("DELETE", "/runs/{run_id}", ("runs", "0" * 32), None),
    ("GET", "/runs/{run_id}/{table}", ("runs", "0" * 32, "alerts"), None),
    ("POST", "/intel", ("intel",), json.dumps({"ips": ["8.8.8.8"]})),
    ("PUT", "/uploads/{name}", ("uploads", "x.pcap"), b"\xd4\xc3\xb2\xa1"),
]


@contextmanager
def held_runs(sauce: Any) -> Iterator[threading.Event]:
    """Analyses of ``sauce`` wait (running) until the yielded event is set; it is set on
    exit, so a failing test never leaves a run waiting."""
    release = threading.Event()
    real_analyze = sauce.analyze

    def held_analyze(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(60), "the test never released the run"
        return real_analyze(*args, **kwargs)

    sauce.analyze = held_analyze
    try:
        yield release
    finally:
        release.set()
