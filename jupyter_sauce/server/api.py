"""Handlers for runs, their results and VirusTotal enrichment."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from ..engine import find_suricata
from ..errors import CaptureError, RangeError, RulesError, SauceError, SuricataMissing
from . import results
from .app import API
from .handlers import SauceHandler, SettingError, configured_home_net
from .paths import check_rules_inside, resolve_inside
from .results import FieldError

RULE_NAMES = ("starter", "installed")
#: why a run that is not done has no results (GET /runs/{id}/{table}: 409)
NOT_DONE = {
    "queued": "The run is still queued; results exist once it is done.",
    "running": "The run is still running; results exist once it is done.",
    "failed": "The run failed; it has no results.",
    "cancelled": "The run was cancelled; it has no results.",
    "done": "The run has no results.",
}


class RunNotDone(SauceError):
    """Results were asked of a run that is not done (HTTP 409)."""

    http_status = 409


class SuricataUnavailable(SuricataMissing):
    """No Suricata binary at SuricataConfig.suricata_path, so nothing can run (HTTP 503)."""

    http_status = 503


class RunsHandler(SauceHandler):
    """GET the runs; POST {path, rules?, home_net?} starts or joins a run (202)."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.send_json({"runs": [run.to_dict() for run in self.ctx.manager.list()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("path", "rules", "home_net"), required=("path",))
        path = body["path"]
        if not isinstance(path, str):
            raise FieldError("path", "path must be a string (relative to the server root).")
        manager = self.ctx.manager
        real = resolve_inside(self.ctx.root, path, kind="file", field="path")
        self._check_capture(real)
        rules, label = self._rules(body.get("rules"))
        home_net = self._home_net(body.get("home_net"))
        try:
            run, created = await self.in_thread(
                manager.submit, real, path.strip("/"), rules, label, home_net
            )
        except RulesError as exc:
            if rules is None:  # the configured default ruleset: a server setting is wrong
                raise SettingError(f"{exc.message.rstrip('.')} (RulesConfig.rules).") from None
            # the client's rules are inside the root: name them as the client does
            root = str(self.ctx.root)
            message = exc.message.replace(f"{root}/", "").replace(root, ".")
            error = RulesError(message, exc.details)
            error.field = "rules"
            raise error from None
        self.set_header("Location", self.reverse_url_for(run.id))
        self.send_json({**run.to_dict(), "reused": not created}, status=202)

    def _check_capture(self, real: Path) -> None:
        """Refuse at once what no run could do: a capture over the size limit, no Suricata."""
        cfg = self.ctx.sauce.suricata_config
        size, limit = real.stat().st_size, cfg.max_capture_size
        if limit and size > limit:
            error = CaptureError(
                f"The capture is {size} bytes, over the limit of {limit} bytes "
                "(SuricataConfig.max_capture_size)."
            )
            error.field = "path"
            raise error
        try:
            find_suricata(cfg.suricata_path)
        except SuricataMissing as exc:
            raise SuricataUnavailable(exc.message) from None

    def reverse_url_for(self, run_id: str) -> str:
        return f"{self.base_url}{API}/runs/{run_id}"

    def _rules(self, value: Any) -> tuple[str | None, str]:
        """(pipeline rules spec, label) from the client's ``rules``: a name or a root path
        whose every rule file (and classification.config) is inside the root."""
        if value is None or value == "":
            return None, "default"
        if not isinstance(value, str):
            raise FieldError("rules", "rules must be 'starter', 'installed' or a path.")
        if value in RULE_NAMES:
            return value, value
        real = resolve_inside(self.ctx.root, value, kind="any", field="rules")
        check_rules_inside(self.ctx.root, real, field="rules")
        return str(real), value

    def _home_net(self, value: Any) -> list[str]:
        """The request's HOME_NET (canonical CIDRs), or the configured default."""
        if value is None:
            return configured_home_net(self.ctx.sauce)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)
        if not isinstance(value, str):
            raise FieldError("home_net", "home_net must be a string or a list of strings.")
        try:
            return self.ctx.sauce.home_net(value)
        except RangeError as exc:  # "HOME_NET: '...' is not ...": names the field once
            raise FieldError("home_net", exc.message) from None


class RunHandler(SauceHandler):
    """GET one run; DELETE cancels it (202) or forgets a finished one (204)."""

    @web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        self.send_json(self.ctx.manager.get(run_id).to_dict())

    @web.authenticated
    @authorized
    def delete(self, run_id: str) -> None:
        run = self.ctx.manager.delete(run_id)
        if run is None:
            self.set_status(204)
            self.finish()
        else:
            self.send_json(run.to_dict(), status=202)


class ResultsHandler(SauceHandler):
    """GET a result table of a done run as JSON (paged), CSV or an Arrow IPC stream."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, table: str) -> None:
        run = self.ctx.manager.get(run_id)
        if run.state != "done" or run.case is None:
            raise RunNotDone(NOT_DONE[run.state])
        args = results.query_arguments(self.request.query_arguments)
        # JupyterLab's ServerConnection appends a bare timestamp (`?1733300000000`) to GETs
        args = {k: v for k, v in args.items() if not (k.isdigit() and v == "")}
        unknown = sorted(
            set(args) - {*results.FILTER_FIELDS, "drop_unaddressed", "offset", "limit", "format"}
        )
        if unknown:
            raise FieldError(unknown[0], f"Unknown query parameter {unknown[0]!r}.")
        fmt = results.choose_format(args.get("format"), self.request.headers.get("Accept"))
        flt = results.parse_filter(args)
        offset, limit = results.parse_paging(args, fmt)
        case = run.case

        def build() -> tuple[Any, str]:
            frame, unfiltered = results.table(case, table, flt)
            if fmt == "json":
                return results.page_json(frame, unfiltered, offset, limit, flt), fmt
            stop = None if limit is None else offset + limit
            encode = results.encode_csv if fmt == "csv" else results.encode_arrow
            return encode(frame.iloc[offset:stop]), fmt

        data, fmt = await self.in_thread(build)
        if fmt == "json":
            self.send_json({"run": run.id, "table": table, **data})
            return
        # streamed chunk by chunk: a million alerts are never one string in memory
        chunks = iter(data)
        first = await self.in_thread(next, chunks)  # errors still become the JSON shape
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", results.FORMATS[fmt])
        if fmt == "csv":
            self.set_header("Content-Disposition", f'attachment; filename="{table}.csv"')
        self.write(first)
        try:
            while (chunk := await self.in_thread(next, chunks, None)) is not None:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:  # the client went away: nothing left to answer
            return
        self.finish(set_content_type=results.FORMATS[fmt])


class IntelHandler(SauceHandler):
    """POST {ips: [...]}: VirusTotal enrichment through the library (cache, offline, live).

    The request waits for the lookups (live ones obey the rate limit); a client that
    disconnects cancels the lookups that have not started.
    """

    _cancel: threading.Event | None = None

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("ips",), required=("ips",))
        ips = body["ips"]
        if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise FieldError("ips", "ips must be a list of strings.")
        if len(ips) > self.ctx.max_intel_ips:
            raise FieldError("ips", f"At most {self.ctx.max_intel_ips} addresses per request.")
        sauce = self.ctx.sauce
        self._cancel = threading.Event()
        result = await self.in_thread(sauce.enrich, ips, None, self._cancel)
        page = results.page_json(result.frame, len(result.frame), 0, None, results.RangeFilter())
        self.send_json(
            {
                "columns": page["columns"],
                "rows": page["rows"],
                "notices": list(result.notices),
                "mode": result.mode,
                "quota": result.quota,
                "requests_made": result.requests_made,
                "cancelled": result.cancelled,
                "not_found": list(result.not_found),
            }
        )

    def on_connection_close(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        super().on_connection_close()
