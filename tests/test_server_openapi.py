"""The OpenAPI document against the live server: a bounded schemathesis run per operation.

schemathesis (sync, requests-based) runs in a worker thread while the test's event loop
keeps serving; every generated request carries the token header. Checks: no 5xx, every
status and content type documented, JSON bodies conform to the schemas.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    SPEC,
    body,
    call,
    needs_suricata,
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")
pytestmark = needs_suricata

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_openapi_documents_every_route() -> None:
    from jupyter_sauce.server.app import SauceApp  # noqa: F401 (importable)

    documented = {(p, m) for p, item in SPEC["paths"].items() for m in item if m != "parameters"}
    assert documented == {
        ("/status", "get"),
        ("/openapi.json", "get"),
        ("/captures", "get"),
        ("/runs", "get"),
        ("/runs", "post"),
        ("/runs/{run_id}", "get"),
        ("/runs/{run_id}", "delete"),
        ("/runs/{run_id}/{table}", "get"),
        ("/intel", "post"),
        ("/uploads/{name}", "put"),
    }


def _fuzz(base_url: str, headers: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(SPEC)))
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)

        run()
        ran.append(f"{operation.method.upper()} {operation.path}")
    return ran


async def test_schemathesis_against_live_server(
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_auth_header: dict[str, str],
    jp_base_url: str,
    demo_capture: Path,
) -> None:
    # a done run, so GETs of real ids and result tables are exercised explicitly too
    run = body(await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap"})))
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"
    base_url = f"http://127.0.0.1:{jp_serverapp.port}{jp_base_url}sauce/api"
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(SPEC)))
    operation = schema["/runs/{run_id}/{table}"]["GET"]

    def explicit() -> None:
        for table in ("alerts", "flows", "iocs", "hosts"):
            for fmt in ("json", "csv", "arrow"):
                case = operation.Case(
                    path_parameters={"run_id": run["id"], "table": table},
                    query={"format": fmt, "exclude_src": "10.0.0.0/8", "limit": 5},
                )
                response = case.call(base_url=base_url, headers=jp_auth_header, timeout=30)
                assert response.status_code == 200
                case.validate_response(response, checks=CHECKS, headers=jp_auth_header)

    await asyncio.to_thread(explicit)
    ran = await asyncio.to_thread(_fuzz, base_url, dict(jp_auth_header))
    assert len(ran) == 10, ran


@pytest.mark.parametrize("sauce_settings", [{"SauceApp": {"allow_upload": True}}])
async def test_upload_documented(jp_fetch: Any, demo_capture: Path) -> None:
    from server_helpers import check_openapi

    response = await call(jp_fetch, "PUT", "uploads", "u.pcap", body=demo_capture.read_bytes())
    check_openapi("PUT", "/uploads/{name}", response)
    assert response.code == 201
