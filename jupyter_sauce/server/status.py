"""GET status: Suricata, ruleset, warm engine, VirusTotal mode and quota, runs.

Problems with settings are reported inside the document rather than as an error, so a
client (the sidebar panel, a hub admin's script) can always see what is wrong.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from traitlets.config import Config

from ..config import SuricataConfig, VirusTotalConfig, configured
from ..engine import find_suricata, suricata_version
from ..errors import InputError, RangeError, SauceError
from ..networks import parse_ranges
from .handlers import SauceHandler, SettingError, configured_home_net, error_body, home_net_problem
from .runs import ACTIVE, FINISHED


class StatusHandler(SauceHandler):
    """GET status: Suricata, ruleset, warm engine, VirusTotal mode and quota, runs.

    Problems with settings are reported inside the document: Suricata missing, the
    ruleset, HOME_NET, and (``error``, with what can be told without it) a pipeline that
    could not be set up at all.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(await self.in_thread(self._status))

    def _status(self) -> dict[str, Any]:
        if self.ctx.runs is None:
            return self._status_unavailable()
        sauce = self.ctx.sauce
        try:
            nets, problem = configured_home_net(sauce), None
        except SettingError as exc:
            nets, problem = [], exc.message
        try:
            rs = sauce.ruleset()
            ruleset: dict[str, Any] = {**rs.label, "fingerprint": rs.fingerprint, "error": None}
        except SauceError as exc:
            ruleset = {"error": exc.message}
        return {
            "error": None,
            "suricata": _suricata_status(sauce.suricata_config, nets, problem),
            "ruleset": ruleset,
            "engine": sauce.engine_state(),
            "virustotal": sauce.enricher.status(),
            "runs": self.ctx.manager.counts(),
            "max_concurrent_runs": self.ctx.max_concurrent_runs,
            "upload": {"enabled": self.ctx.allow_upload, "max_size": self.ctx.max_upload_size},
            "notes": list(sauce.notes),
        }

    def _status_unavailable(self) -> dict[str, Any]:
        """What the settings tell when the pipeline could not be set up (no store)."""
        ctx = self.ctx
        problem = ctx.setup_error()
        error = error_body(problem.http_status, problem, ctx.secrets.redact)["error"]
        try:
            cfg = configured(SuricataConfig, ctx.config)
        except InputError:  # the setup problem itself (reported in "error"): the defaults
            cfg = SuricataConfig()
        try:  # checked as far as it can be without the pipeline (Sauce.home_net)
            nets, nets_problem = [str(n) for n in parse_ranges(cfg.home_net).networks], None
        except RangeError as exc:
            nets, nets_problem = [], home_net_problem(f"HOME_NET: {exc.message}")
        return {
            "error": error,
            "suricata": _suricata_status(cfg, nets, nets_problem),
            "ruleset": {"error": error["message"]},
            "engine": {"warm": False, "enabled": cfg.warm},
            "virustotal": _virustotal_unavailable(ctx.config),
            "runs": {state: 0 for state in (*ACTIVE, *FINISHED)},
            "max_concurrent_runs": ctx.max_concurrent_runs,
            "upload": {"enabled": ctx.allow_upload, "max_size": ctx.max_upload_size},
            "notes": [],
        }


def _suricata_status(cfg: SuricataConfig, nets: list[str], problem: str | None) -> dict:
    suricata: dict[str, Any] = {
        "available": False,
        "version": None,
        "binary": None,
        "runner": cfg.runner,
        "runmode": cfg.runmode,
        "warm": cfg.warm,
        "home_net": nets,
        "home_net_error": problem,
        "message": None,
    }
    try:
        binary = find_suricata(cfg.suricata_path)
        suricata.update(available=True, binary=binary, version=suricata_version(binary))
    except SauceError as exc:
        suricata["message"] = exc.message
    return suricata


def _virustotal_unavailable(config: Config) -> dict[str, Any]:
    """The VirusTotal part of the status from the settings alone (no cache to read)."""
    try:
        cfg = configured(VirusTotalConfig, config)
    except InputError:  # the setup problem itself (reported in "error"): the defaults
        cfg = VirusTotalConfig()
    problem = cfg.api_key_problem()
    return {
        "mode": "live" if problem is None and cfg.resolved_api_key() else "offline",
        "key_problem": problem,
        "quota_used_today": None,
        "quota_limit": cfg.requests_per_day,
    }
