"""``SauceApp``: the jupyter_server extension serving the pipeline under ``sauce/api/``.

Configuration (``jupyter_server_config.py``, ``jupyter_sauce_config.py`` or the command
line): this app's traits (``c.SauceApp.max_concurrent_runs = 2`` or
``--SauceApp.max_concurrent_runs=2``) and the pipeline's Configurables shared with the
CLI and the kernel (``c.SuricataConfig...``, ``c.RulesConfig...``, ``c.StoreConfig...``,
``c.VirusTotalConfig...``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode

from ..config import CONFIG_CLASSES
from .redact import Secrets, guard_logs, release

API = "sauce/api"
TABLES = "alerts|flows|iocs|hosts"
RUN_ID = r"[0-9a-f]{32}"


class SauceApp(ExtensionApp):
    """Packet-capture triage REST API (Suricata, range filters, IoCs, VirusTotal)."""

    name = "jupyter_sauce"
    extension_url = "/sauce/api/status"
    load_other_extensions = True
    classes = [*ExtensionApp.classes, *CONFIG_CLASSES]

    max_concurrent_runs = Int(
        1, help="How many analyses run at once; more wait in a queue (Suricata is CPU-bound)."
    ).tag(config=True)
    max_queued_runs = Int(64, help="How many analyses may wait; more get HTTP 503.").tag(
        config=True
    )
    max_runs_kept = Int(200, help="Finished runs remembered for GET /runs.").tag(config=True)
    allow_upload = Bool(False, help="Accept capture uploads into uploads_dir.").tag(config=True)
    uploads_dir = Unicode(
        "uploads", help="Where uploads go: a directory relative to (and inside) the root dir."
    ).tag(config=True)
    max_upload_size = Int(200 * 1024 * 1024, help="Largest accepted upload in bytes.").tag(
        config=True
    )
    max_captures_listed = Int(5000, help="At most this many captures in GET /captures.").tag(
        config=True
    )
    max_intel_ips = Int(1000, help="At most this many addresses per POST /intel.").tag(config=True)

    def _config_file_name_default(self) -> str:
        # the file the CLI and the kernel read too: one place for an admin to configure
        return "jupyter_sauce_config"

    def initialize_settings(self) -> None:
        from ..pipeline import Sauce
        from .runs import RunManager

        self.sauce = Sauce(config=self.config)
        self.manager = RunManager(
            self.sauce,
            max_concurrent=self.max_concurrent_runs,
            max_queued=self.max_queued_runs,
            keep=self.max_runs_kept,
        )
        root = Path(self.serverapp.root_dir).resolve()
        uploads = (root / self.uploads_dir).resolve()
        allow_upload = self.allow_upload
        if allow_upload and not uploads.is_relative_to(root):
            self.log.error(
                "jupyter_sauce: SauceApp.uploads_dir is outside the root dir; uploads disabled."
            )
            allow_upload = False
        from .handlers import SauceContext

        self.context = SauceContext(
            manager=self.manager,
            root=root,
            allow_upload=allow_upload,
            uploads_dir=uploads,
            max_upload_size=self.max_upload_size,
            max_captures_listed=self.max_captures_listed,
            max_intel_ips=self.max_intel_ips,
            secrets=Secrets.of(self.sauce.vt_config),
        )
        self._redact_logs()
        self.log.info(
            "jupyter_sauce: REST API at %s%s/ (store %s, VirusTotal %s)",
            self.serverapp.base_url,
            API,
            self.sauce.store.root,
            self.sauce.enricher.mode,
        )

    def _redact_logs(self) -> None:
        """Keep the VirusTotal key (however it is configured) out of every log line from now on."""
        loggers = [self.log, self.serverapp.log, logging.getLogger()]
        loggers += [logging.getLogger(n) for n in ("tornado.access", "tornado.application")]
        guard_logs(self.context.secrets, loggers)

    def initialize_handlers(self) -> None:
        from .api import IntelHandler, ResultsHandler, RunHandler, RunsHandler
        from .handlers import CapturesHandler, NotFoundHandler, SpecHandler, StatusHandler
        from .upload import UploadHandler

        kw = {"context": self.context}
        self.handlers.extend(
            [
                (rf"/{API}/status", StatusHandler, kw),
                (rf"/{API}/openapi.json", SpecHandler, kw),
                (rf"/{API}/captures", CapturesHandler, kw),
                (rf"/{API}/runs", RunsHandler, kw),
                (rf"/{API}/runs/(?P<run_id>{RUN_ID})", RunHandler, kw),
                (rf"/{API}/runs/(?P<run_id>{RUN_ID})/(?P<table>{TABLES})", ResultsHandler, kw),
                (rf"/{API}/intel", IntelHandler, kw),
                (rf"/{API}/uploads/(?P<name>[^/]+)", UploadHandler, kw),
                (rf"/{API}/.*", NotFoundHandler, kw),
            ]
        )

    async def stop_extension(self) -> None:
        """Cancel runs, stop Suricata (the warm engine), close VirusTotal clients."""
        manager = getattr(self, "manager", None)
        if manager is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, manager.shutdown)
        context = getattr(self, "context", None)
        if context is not None:
            release(context.secrets)
