"""The VirusTotal key from ``api_key_file`` or ``VT_API_KEY`` never leaves the server.

A real Jupyter server talks to the local VirusTotal-compatible server (tests/vtserver.py)
with the key; then that server starts refusing the key (401 WrongCredentialsError, its
message echoing the key), and clients send requests that make the server quote them (an
unknown field, a URL). The key must be in no response and in no log record — the server
log goes through the root logger under pytest-jupyter, where this test listens.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import assert_error, body, call, check_openapi  # noqa: E402
from vtserver import VTServer  # noqa: E402

from jupyter_sauce.server.redact import Secrets, guard_logs, release  # noqa: E402

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")

KEY = "5f0c3a9e1b7d4c2e8a6f0b1d3c5e7a9f2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d0f"
NEW_KEY = "9d0fb7e5c3a1f9d7b5e3c1a0f8e6d4b2f9a7e5c3b1d2c4e6a8f0b1d7b9e1a3c0"
IP = "138.128.150.133"  # a global address: the library looks it up live
OTHER_IP = "8.8.8.8"
REPORTS = {
    ip: {
        "data": {
            "id": ip,
            "type": "ip_address",
            "links": {"self": f"https://www.virustotal.com/api/v3/ip_addresses/{ip}"},
            "attributes": {
                "as_owner": "Example AS",
                "country": "US",
                "last_analysis_stats": {"malicious": 3, "suspicious": 0, "harmless": 60},
            },
        }
    }
    for ip in (IP, OTHER_IP)
}


@pytest.fixture
def vt() -> Iterator[VTServer]:
    server = VTServer(REPORTS, api_key=KEY, error_dir=None).start()
    yield server
    server.stop()


@pytest.fixture(params=["api_key_file", "VT_API_KEY"])
def key_source(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the key comes from; never ``VirusTotalConfig.api_key``."""
    if request.param == "api_key_file":
        key_file = tmp_path / "vt.key"
        key_file.write_text(KEY + "\n")
        return {"source": "file", "api_key_file": str(key_file), "file": key_file}
    return {"source": "env"}


@pytest.fixture
def sauce_settings(key_source: dict[str, Any], vt: VTServer) -> dict[str, Any]:
    settings = {"host": vt.url, "requests_per_minute": 1000}
    if key_source["source"] == "file":
        settings["api_key_file"] = key_source["api_key_file"]
    return {"VirusTotalConfig": settings}


@pytest.fixture
def jp_server_config(
    jp_server_config: dict[str, Any], key_source: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """server_helpers' config (which clears VT_API_KEY), then the key in VT_API_KEY."""
    if key_source["source"] == "env":
        monkeypatch.setenv("VT_API_KEY", KEY)
    return jp_server_config


class Collect(logging.Handler):
    """Every record that reaches the root logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def server_log(sauce_app: Any) -> Iterator[Collect]:
    """The server log: what reaches the root logger, and SauceApp's own (non-propagating)
    log. The collector is first in line, so it sees records before other handlers' filters."""
    collect = Collect()
    targets = [logging.getLogger(), sauce_app.log]
    ours = logging.getLogger("jupyter_sauce")
    level = ours.level
    ours.setLevel(logging.DEBUG)  # the library's debug lines too (VirusTotal answers ...)
    for logger in targets:
        logger.handlers.insert(0, collect)
    try:
        yield collect
    finally:
        for logger in targets:
            logger.removeHandler(collect)
        ours.setLevel(level)


async def test_key_from_file_or_env_never_leaks(
    jp_fetch: Any,
    sauce_app: Any,
    vt: VTServer,
    key_source: dict[str, Any],
    server_log: Collect,
) -> None:
    assert "api_key" not in sauce_app.serverapp.config.VirusTotalConfig  # not configured there
    responses = [await call(jp_fetch, "GET", "status")]
    check_openapi("GET", "/status", responses[0])
    assert body(responses[0])["virustotal"]["mode"] == "live"

    # the key works: a live lookup made with it
    intel = await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": [IP]}))
    check_openapi("POST", "/intel", intel)
    responses.append(intel)
    assert body(intel)["rows"][0]["source"] == "live"
    assert vt.requests and all(r.key_ok for r in vt.requests)

    # VirusTotal now refuses the key, quoting it (an upstream that echoes what it got)
    vt.api_key = "not-the-configured-key"
    vt.errors["WrongCredentialsError"] = {
        "error": {"code": "WrongCredentialsError", "message": f"Wrong API key {KEY}."}
    }
    refused = await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": [OTHER_IP]}))
    check_openapi("POST", "/intel", refused)
    responses.append(refused)
    assert vt.requests[-1].status == 401
    error = assert_error(refused, 502, "CredentialsError")
    assert "rejected the API key" in error["message"]

    # requests the server quotes back: an unknown JSON field, an unknown query parameter
    quoted = await call(jp_fetch, "POST", "runs", body=json.dumps({KEY: 1}))
    check_openapi("POST", "/runs", quoted)
    responses.append(quoted)
    message = assert_error(quoted, 400, "FieldError")["message"]
    assert "[redacted]" in message, message
    responses.append(await call(jp_fetch, "GET", KEY))  # a URL holding the key (access log)
    responses.append(await call(jp_fetch, "GET", "runs", "0" * 32, params={KEY: "1"}))
    responses.append(await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": [KEY]})))

    # anything in this process that logs the key, from any logger, is scrubbed
    logging.getLogger("jupyter_sauce.virustotal.client").warning("upstream said %s", KEY)
    try:
        raise RuntimeError(f"a failure quoting {KEY}")
    except RuntimeError:
        logging.getLogger("aiohttp.client").exception("lookup failed")

    if key_source["source"] == "file":  # a rewritten key file: the new key is hidden too
        key_source["file"].write_text(NEW_KEY)
        rotated = await call(jp_fetch, "POST", "runs", body=json.dumps({NEW_KEY: 1, KEY: 2}))
        responses.append(rotated)
        assert assert_error(rotated, 400)["message"].count("[redacted]") == 1

    for response in responses:
        text = response.body.decode("utf-8", "replace") + str(response.headers)
        assert KEY not in text and NEW_KEY not in text, text
    lines = server_log.lines
    assert any("[redacted]" in line for line in lines), "nothing was redacted from the log?"
    assert any("RuntimeError" in line for line in lines), "the traceback was not logged?"
    assert any("sauce/api/[redacted]" in line for line in lines), "no access log line?"
    assert any("SauceApp" in line and "FieldError" in line for line in lines), "no SauceApp log?"
    leaked = [line for line in lines if KEY in line or NEW_KEY in line]
    assert not leaked, leaked


@pytest.mark.parametrize("key_source", ["api_key_file"], indirect=True)
async def test_unreadable_key_file_is_no_leak_and_no_crash(
    jp_fetch: Any, sauce_app: Any, key_source: dict[str, Any], server_log: Collect
) -> None:
    """A key file that disappears: the server keeps answering, the old key stays hidden."""
    responses = [await call(jp_fetch, "POST", "runs", body=json.dumps({KEY: 1}))]
    key_source["file"].unlink()
    responses.append(await call(jp_fetch, "POST", "runs", body=json.dumps({KEY: 1})))
    responses.append(await call(jp_fetch, "GET", "captures"))
    assert responses[-1].code == 200
    for response in responses[:2]:
        assert "[redacted]" in assert_error(response, 400, "FieldError")["message"]
    for response in responses:
        assert KEY not in response.body.decode("utf-8", "replace")
    assert not [line for line in server_log.lines if KEY in line]


JUPYTER = Path(sys.executable).parent / "jupyter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not JUPYTER.is_file(), reason=f"no jupyter next to {sys.executable}")
def test_api_key_in_config_file_is_not_in_the_debug_log(tmp_path: Path) -> None:
    """Bug: with VirusTotalConfig.api_key in jupyter_sauce_config.json, ``jupyter server
    --debug`` logged the key in traitlets' "Config changed: {...}" lines, written before
    the extension's log guards were installed."""
    dirs = {name: tmp_path / name for name in ("home", "config", "data", "runtime", "root")}
    for folder in dirs.values():
        folder.mkdir()
    settings = {
        "VirusTotalConfig": {"api_key": KEY},
        "StoreConfig": {"store_dir": str(tmp_path / "store")},
        "RulesConfig": {"rules": "starter", "data_dir": str(tmp_path / "rules-data")},
    }
    (dirs["config"] / "jupyter_sauce_config.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.pop("VT_API_KEY", None)
    env.update(
        HOME=str(dirs["home"]),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
    )
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "server.log"
    args = [str(JUPYTER), "server", "--debug", "--no-browser", "--allow-root",
            f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={dirs['root']}",
            f"--IdentityProvider.token={token}"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        status = None
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/sauce/api/status", headers={"Authorization": f"token {token}"}
        )
        deadline = time.monotonic() + 90
        while status is None:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status = json.loads(answer.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status["virustotal"]["mode"] == "live"  # the key from the file is in use
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    text = log.read_text()
    dumps = [line for line in text.splitlines() if "SauceApp] Config changed:" in line]
    assert dumps and all("'api_key': '[redacted]'" in line for line in dumps), dumps
    assert "jupyter_sauce: REST API at /sauce/api/" in text
    assert KEY not in text


def test_malformed_log_record_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """Bug: a record whose msg % args fails was left as it was, and logging's report of
    it printed the raw message and arguments, key included."""
    guarded = Secrets(lambda: KEY, lambda: 1)
    setting = "-".join(("a", "configured", "key"))  # not in this source (logging quotes it)
    logger = logging.getLogger("jupyter_sauce.tests.malformed")
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    logger.propagate = False  # only this handler: pytest's own would fail the test
    guard_logs(guarded, [logger])
    try:
        logger.warning("key %d", KEY)  # a str for %d: logging reports a "Logging error"
        logger.warning("setting %s", {"api_key": setting}, "extra")
        logger.warning("fine %s", KEY)
    finally:
        release(guarded)
        logger.handlers.clear()
    report = capsys.readouterr().err
    assert report.count("--- Logging error ---") == 2
    assert "Message: 'key %d'\nArguments: ('[redacted]',)" in report
    assert "Arguments: (\"{'api_key': '[redacted]'}\", 'extra')" in report
    assert stream.getvalue() == "fine [redacted]\n"
    assert KEY not in report and setting not in report


@pytest.mark.parametrize("key", ["1", "test", 'a"b', "ké y", "<your key here>"])
def test_a_key_that_cannot_be_one_is_refused_and_never_rewrites_data(key: str) -> None:
    """VT_API_KEY=1 turned every "1" in every answer into "[redacted]" (run ids, dates,
    addresses), and a key with a quote made the answers invalid JSON."""
    from jupyter_sauce.config import VirusTotalConfig

    config = VirusTotalConfig(api_key=key)
    assert config.api_key_problem() == (
        "The VirusTotal key from VirusTotalConfig.api_key is not a VirusTotal API key (it "
        "should be at least 16 letters, digits, '-' or '_'; VirusTotal's are 64 hexadecimal "
        "characters)."
    )
    answer = json.dumps({"id": "1f2e", "home_net": ["10.0.0.0/8"], "note": 'test a"b ké y'})
    redacted = Secrets.of(config).redact_json(answer)
    if len(key) < 8:
        assert redacted == answer  # too short to be a secret: data is left alone
    assert json.loads(redacted)["home_net"] == ["10.0.0.0/8"]  # still JSON


def test_a_long_key_with_a_quote_is_hidden_and_the_answer_stays_json() -> None:
    from jupyter_sauce.config import VirusTotalConfig

    key = 'abc"def\\ghij-long'
    answer = json.dumps({"error": f"VirusTotal said: bad key {key}", "n": 1})
    redacted = Secrets.of(VirusTotalConfig(api_key=key)).redact_json(answer)
    assert json.loads(redacted) == {"error": "VirusTotal said: bad key [redacted]", "n": 1}
