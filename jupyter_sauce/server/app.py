"""``SauceApp``: the jupyter_server extension serving the pipeline under ``sauce/api/``.

Configuration (``jupyter_server_config.py``, ``jupyter_sauce_config.py`` or the command
line): this app's traits (``c.SauceApp.max_concurrent_runs = 2`` or
``--SauceApp.max_concurrent_runs=2``) and the pipeline's Configurables shared with the
CLI and the kernel (``c.SuricataConfig...``, ``c.RulesConfig...``, ``c.StoreConfig...``,
``c.VirusTotalConfig...``).

A setting the pipeline cannot work with (e.g. an unwritable ``StoreConfig.store_dir``)
does not stop the extension from loading: every API call answers with that problem in
the one JSON error shape, naming the setting, and GET status reports it (``error``) with
what it can tell besides.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode
from traitlets.config import Config

from ..config import CONFIG_CLASSES, StoreConfig, VirusTotalConfig, configured
from ..errors import InputError, SauceError, StoreError
from .redact import Secrets, guard_config_dumps, guard_logs, release

API = "sauce/api"
TABLES = "alerts|flows|iocs|hosts"
RUN_ID = r"[0-9a-f]{32}"


class SauceApp(ExtensionApp):
    """Packet-capture triage REST API (Suricata, range filters, IoCs, VirusTotal)."""

    name = "jupyter_sauce"
    extension_url = f"/{API}/status"
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

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        # linking loads jupyter_sauce_config.*, and traitlets logs every config change at
        # debug level ("Config changed: {...}"), a VirusTotalConfig.api_key included: hide
        # such values from every log record before that
        guard_config_dumps()
        super()._link_jupyter_server_extension(serverapp)

    def initialize_settings(self) -> None:
        from ..pipeline import Sauce
        from .runs import RunManager

        self.sauce: Sauce | None = None
        self.manager: RunManager | None = None
        problem: SauceError | None = None
        try:
            self.sauce = Sauce(config=self.config)
        except SauceError as exc:
            # the extension still loads: every API call answers with this problem in the
            # one JSON error shape, and GET status reports what it can
            problem = setup_problem(self.config, exc)
            self.log.error("jupyter_sauce: the REST API cannot analyse: %s", problem.message)
        else:
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
            runs=self.manager,
            problem=problem,
            config=self.config,
            root=root,
            allow_upload=allow_upload,
            uploads_dir=uploads,
            max_upload_size=self.max_upload_size,
            max_captures_listed=self.max_captures_listed,
            max_intel_ips=self.max_intel_ips,
            max_concurrent_runs=self.max_concurrent_runs,
            secrets=Secrets.of(self._vt_config()),
        )
        self._redact_logs()
        if self.sauce is not None:
            self.log.info(
                "jupyter_sauce: REST API at %s%s/ (store %s, VirusTotal %s)",
                self.serverapp.base_url,
                API,
                self.sauce.store.root,
                self.sauce.enricher.mode,
            )

    def _vt_config(self) -> VirusTotalConfig:
        """The VirusTotal settings, whose key is kept out of logs and answers."""
        if self.sauce is not None:
            return self.sauce.vt_config
        try:
            return configured(VirusTotalConfig, self.config)
        except InputError:  # the setup problem itself: no key was read from these settings
            return VirusTotalConfig()

    def _redact_logs(self) -> None:
        """Keep the VirusTotal key (however it is configured) out of every log line from now on."""
        loggers = [self.log, self.serverapp.log, logging.getLogger()]
        loggers += [logging.getLogger(n) for n in ("tornado.access", "tornado.application")]
        guard_logs(self.context.secrets, loggers)

    def initialize_handlers(self) -> None:
        from .api import IntelHandler, ResultsHandler, RunHandler, RunsHandler
        from .handlers import CapturesHandler, NotFoundHandler, SpecHandler
        from .status import StatusHandler
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
        manager = getattr(self, "manager", None)  # None: never initialized, or no pipeline
        if manager is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, manager.shutdown)
        context = getattr(self, "context", None)
        if context is not None:
            release(context.secrets)


def setup_problem(config: Config, exc: SauceError) -> SauceError:
    """What to answer every API call with when the pipeline cannot be built from the
    server's settings: one sentence naming the setting, never a client error (4xx)."""
    from ..store import StoreNotWritable
    from ..userpaths import expand_user
    from .handlers import SettingError

    if isinstance(exc, StoreNotWritable):
        folder = expand_user(configured(StoreConfig, config).store_dir)
        cause = exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "unknown"
        verb = "written" if os.path.isdir(folder) else "created"
        return StoreError(
            f"The case store folder {str(folder)!r} (StoreConfig.store_dir) cannot be "
            f"{verb}: {reason}."
        )
    if isinstance(exc, StoreError):  # e.g. StoreConfig.shared_store_dirs
        return StoreError(exc.message)
    # a wrong setting (an InputError from configured()): the server's fault, not the request's
    return SettingError(exc.message)
