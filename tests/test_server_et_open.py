"""The REST API on real corpus captures with the ET Open ruleset (2024-04-21).

esnet-curated/nmap_80_all.pcap raises 28 alerts, all ET SCAN sid 2024364 from
10.87.1.10 to 130.211.223.103: checked in JSON pages, CSV and an Arrow IPC stream, with
and without range filters. Loading ET Open takes ~15 s, so the warm engine loads it once
per server; the cancel test uses cold runs to have a Suricata that is still loading.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.ipc as ipc
import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    ET_OPEN,
    NMAP,
    body,
    call,
    check_openapi,
    needs_et_open,
    needs_suricata,
    suricata_children,
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")
pytestmark = [needs_suricata, needs_et_open]

ARROW = "application/vnd.apache.arrow.stream"
RESULTS = "/runs/{run_id}/{table}"
SCANNER, TARGET, SID = "10.87.1.10", "130.211.223.103", 2024364


async def start(jp_fetch: Any, **request: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    response = await call(jp_fetch, "POST", "runs", body=json.dumps(request))
    assert time.monotonic() - t0 < 2.0, "POST /runs must answer at once"
    assert response.code == 202, response.body
    check_openapi("POST", "/runs", response)
    return body(response)


async def fetch_table(jp_fetch: Any, run_id: str, table: str, **params: str) -> Any:
    response = await call(jp_fetch, "GET", "runs", run_id, table, params=params)
    assert response.code == 200, response.body
    check_openapi("GET", RESULTS, response)
    return response


def assert_nmap_alerts(frame: pd.DataFrame) -> None:
    assert len(frame) == 28
    assert set(frame["signature_id"]) == {SID}
    assert set(frame["src_ip"]) == {SCANNER} and set(frame["dest_ip"]) == {TARGET}


@pytest.mark.parametrize("sauce_settings", [{"RulesConfig": {"rules": str(ET_OPEN)}}])
async def test_et_open_nmap_capture(jp_fetch: Any, jp_root_dir: Path, sauce_app: Any) -> None:
    shutil.copy(NMAP, jp_root_dir / "nmap.pcap")
    run = await start(jp_fetch, path="nmap.pcap")
    done = await wait_for(jp_fetch, run["id"], timeout=300)
    assert done["state"] == "done", done
    assert done["counts"]["alerts"] == 28 and done["engine"] == "warm"
    assert done["ruleset"]["source"] == "directory" and done["ruleset"]["rules"] > 19000
    rid = run["id"]

    # JSON, paged: three pages of 10 cover the 28 alerts exactly once
    rows: list[dict[str, Any]] = []
    for offset in (0, 10, 20):
        page = body(await fetch_table(jp_fetch, rid, "alerts", limit="10", offset=str(offset)))
        assert page["total"] == page["unfiltered"] == 28 and page["offset"] == offset
        assert len(page["rows"]) == (10 if offset < 20 else 8)
        rows += page["rows"]
    frame = pd.DataFrame(rows)
    assert_nmap_alerts(frame)
    whole = body(await fetch_table(jp_fetch, rid, "alerts", limit="100"))
    assert whole["rows"] == rows  # pages are slices of one stable order
    assert all(r["timestamp"].endswith("Z") for r in rows)
    assert (frame["signature"].str.startswith("ET SCAN")).all()

    # CSV and Arrow IPC: the same 28 alerts
    csv = await fetch_table(jp_fetch, rid, "alerts", format="csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert_nmap_alerts(pd.read_csv(io.BytesIO(csv.body)))
    arrow = await call(jp_fetch, "GET", "runs", rid, "alerts", headers={"Accept": ARROW})
    check_openapi("GET", RESULTS, arrow)
    assert arrow.headers["Content-Type"] == ARROW
    table = ipc.open_stream(arrow.body).read_all()
    assert_nmap_alerts(table.to_pandas())
    assert table.schema.field("signature_id").type == "int64"

    # an exclude filter that keeps everything, and one that removes the scanner
    keep = {"exclude_src": "192.168.0.0/16, 10.87.2.0/24"}
    kept = body(await fetch_table(jp_fetch, rid, "alerts", **keep))
    assert kept["total"] == 28
    assert set(kept["filter"]["exclude_src"].split(", ")) == {"192.168.0.0/16", "10.87.2.0/24"}
    drop = {"exclude_src": "10.87.0.0/16"}
    none = body(await fetch_table(jp_fetch, rid, "alerts", **drop))
    assert none["total"] == 0 and none["unfiltered"] == 28 and none["rows"] == []
    assert "10.87.0.0/16" in none["filter_description"]
    csv_none = pd.read_csv(
        io.BytesIO((await fetch_table(jp_fetch, rid, "alerts", format="csv", **drop)).body)
    )
    assert len(csv_none) == 0 and "signature_id" in csv_none.columns
    arrow_none = ipc.open_stream(
        (await fetch_table(jp_fetch, rid, "alerts", format="arrow", **drop)).body
    ).read_all()
    assert arrow_none.num_rows == 0 and arrow_none.schema.equals(table.schema)
    to_target = {"exclude_dst": TARGET}
    assert body(await fetch_table(jp_fetch, rid, "alerts", **to_target))["total"] == 0

    # IoCs: the two addresses, and none once the scanner is excluded
    iocs = body(await fetch_table(jp_fetch, rid, "iocs"))
    assert {r["ip"] for r in iocs["rows"]} == {SCANNER, TARGET}
    assert body(await fetch_table(jp_fetch, rid, "iocs", **drop))["rows"] == []

    status = body(await call(jp_fetch, "GET", "status"))
    assert status["engine"]["warm"] is True
    assert status["ruleset"]["source"] == "directory"


@pytest.mark.parametrize(
    "sauce_settings",
    [
        {
            "RulesConfig": {"rules": str(ET_OPEN)},
            "SuricataConfig": {"warm": False},
            "SauceApp": {"max_concurrent_runs": 1},
        }
    ],
)
async def test_cancel_queued_running_and_shutdown(
    jp_fetch: Any, jp_root_dir: Path, sauce_app: Any
) -> None:
    """ET Open takes ~15 s to load: long enough to cancel a running cold Suricata."""
    shutil.copy(NMAP, jp_root_dir / "nmap.pcap")
    shutil.copy(NMAP, jp_root_dir / "nmap2.pcap")
    # Suricatas this process already had (e.g. a session-scoped warm engine of other tests)
    others = set(suricata_children())

    def ours() -> list[int]:
        return [pid for pid in suricata_children() if pid not in others]

    running = await start(jp_fetch, path="nmap.pcap")
    queued = await start(jp_fetch, path="nmap.pcap", home_net="192.168.0.0/16")
    assert queued["state"] == "queued"
    await wait_for(jp_fetch, running["id"], states=("running",))
    deadline = time.monotonic() + 20
    while not ours() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert ours(), "Suricata should be running"

    cancelled = await call(jp_fetch, "DELETE", "runs", queued["id"])
    assert cancelled.code == 202 and body(cancelled)["state"] == "cancelled"
    t0 = time.monotonic()
    response = await call(jp_fetch, "DELETE", "runs", running["id"])
    check_openapi("DELETE", "/runs/{run_id}", response)
    assert response.code == 202 and body(response)["cancel_requested"] is True
    final = await wait_for(jp_fetch, running["id"], timeout=30)
    # Suricata acts on SIGTERM only once its rules are loaded (engine.stop_process: 10 s grace)
    assert final["state"] == "cancelled" and time.monotonic() - t0 < 20
    assert not ours()
    store = sauce_app.sauce.store
    assert store.keys() == [] and list((store.root / "tmp").iterdir()) == []

    # server shutdown mid-run: Suricata stops, no half entry
    third = await start(jp_fetch, path="nmap2.pcap")
    await wait_for(jp_fetch, third["id"], states=("running",))
    while not ours() and time.monotonic() < deadline + 20:
        await asyncio.sleep(0.1)
    t0 = time.monotonic()
    await sauce_app.stop_extension()
    assert time.monotonic() - t0 < 20
    assert not ours()
    assert sauce_app.manager.get(third["id"]).state == "cancelled"
    assert store.keys() == [] and list((store.root / "tmp").iterdir()) == []
