"""Settings from a real ``jupyter_server_config.py`` (in the Jupyter config dir the server
reads) reach the REST API: the default HOME_NET (SuricataConfig.home_net) and the offline
VirusTotal reports (VirusTotalConfig.reports_dir)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    VT_CORPUS,
    VT_REPORT,
    body,
    call,
    check_openapi,
    needs_suricata,
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")
pytestmark = needs_suricata

HOME_NET = ["10.42.0.0/16", "192.0.2.0/24"]


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    if not VT_REPORT.is_file():
        pytest.skip(f"VirusTotal corpus reports not found under {VT_CORPUS} (set SAUCE_CORPUS)")
    folder = tmp_path / "vt-reports"
    folder.mkdir()
    shutil.copy(VT_REPORT, folder)  # a file name of the corpus's, not the library's
    return folder


@pytest.fixture
def config_file(jp_config_dir: Path, reports_dir: Path) -> Path:
    path = jp_config_dir / "jupyter_server_config.py"
    path.write_text(
        "c = get_config()  # noqa: F821\n"
        "c.SuricataConfig.home_net = '10.42.0.0/16 192.0.2.0/24'\n"
        f"c.VirusTotalConfig.reports_dir = {str(reports_dir)!r}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """server_helpers' config, with the config file written before the server starts."""
    assert "SuricataConfig" not in jp_server_config  # the file is the only source
    return jp_server_config


async def test_config_file_sets_home_net_and_reports_dir(
    jp_fetch: Any, sauce_app: Any, config_file: Path, reports_dir: Path, demo_capture: Path
) -> None:
    assert sauce_app.serverapp.config.SuricataConfig.home_net == "10.42.0.0/16 192.0.2.0/24"
    response = await call(jp_fetch, "GET", "status")
    check_openapi("GET", "/status", response)
    status = body(response)
    assert status["suricata"]["home_net"] == HOME_NET
    assert status["suricata"]["home_net_error"] is None
    assert status["virustotal"]["reports_dir"] == str(reports_dir)
    assert status["virustotal"]["mode"] == "offline"

    run = body(await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap"})))
    assert run["home_net"] == HOME_NET
    done = await wait_for(jp_fetch, run["id"])
    assert done["state"] == "done" and done["home_net"] == HOME_NET

    response = await call(
        jp_fetch, "POST", "intel", body=json.dumps({"ips": ["138.128.150.133", "8.8.4.4"]})
    )
    check_openapi("POST", "/intel", response)
    rows = {row["ip"]: row for row in body(response)["rows"]}
    assert (rows["138.128.150.133"]["source"], rows["138.128.150.133"]["malicious"]) == (
        "offline",
        4,
    )
    assert (rows["138.128.150.133"]["as_owner"], rows["138.128.150.133"]["country"]) == (
        "CLOUD-SOUTH",
        "GB",
    )
    assert (rows["8.8.4.4"]["source"], rows["8.8.4.4"]["malicious"]) == ("none", None)
    assert sorted(p.name for p in reports_dir.iterdir()) == [VT_REPORT.name]  # only read
