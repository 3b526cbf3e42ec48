"""The IoC half of the CaseWidget's behaviour: IoCs in view, the grid filter, VirusTotal.

A mixin of :class:`~.controller.Controller` (which provides ``view``, ``grid``,
``ioc_panel``, ``worker``, ``vt_worker``, ``dispatcher`` and ``show_error``).
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from ..addresses import canonical
from ..errors import InputError
from ..iocs import alert_iocs, host_iocs
from . import grid as grids
from . import views


class IocControl:
    """IoC table, clicking an address, VirusTotal enrichment."""

    def alerts_in_view(self) -> pd.DataFrame:
        """The range-filtered alerts that also pass the grid's filter and expressions."""
        if self.view is None:
            return pd.DataFrame()
        grid = self.grid
        if grid is None or (not grid.filter and not grid.expressions):
            return self.view.alerts
        rows = grids.rows_in_view(grid.table, grid.filter, grid.expressions)
        return self.view.case.alerts.take(np.sort(rows))

    def refresh_iocs(self) -> None:
        """Recompute the IoC table (alerts in view, or all hosts) on the worker."""
        self._ioc_wait = None  # no later refresh needed (see Controller._iocs_after_draw)
        if self.view is None:
            return
        source = self.ioc_panel.source
        try:
            alerts = self.alerts_in_view() if source == "alerts" else None
        except Exception as exc:
            self.show_error(exc, self.ioc_panel)
            alerts = self.view.alerts
        flows, intel = self.view.flows, self.intel
        self._ioc_generation += 1
        generation = self._ioc_generation
        grid_filter = grids.describe_filter(self.grid.filter) if self.grid else ""

        def work() -> pd.DataFrame:
            iocs = alert_iocs(alerts) if source == "alerts" else host_iocs(flows)
            return views.ioc_frame(iocs, intel)

        def done(table: pd.DataFrame) -> None:
            if generation != self._ioc_generation:
                return
            self.iocs = table
            columns, rows = views.ioc_rows(table, source)
            with self.ioc_panel.hold_sync():  # one message: the browser draws the table once
                self.ioc_panel.columns, self.ioc_panel.rows = columns, rows
                self.ioc_panel.global_count = len(views.global_ips(table))
                if source == "alerts":
                    where = f" (grid filter: {grid_filter})" if grid_filter else ""
                    count = f"{len(alerts):,} alert{'' if len(alerts) == 1 else 's'}"
                    self.ioc_panel.scope = f"Addresses in the {count} in view{where}."
                else:
                    self.ioc_panel.scope = f"Every host in the capture's {len(flows):,} flows."

        self.worker.submit(work, done, lambda exc: self.show_error(exc, self.ioc_panel))

    def filter_ip(self, ip: str) -> None:
        """Filter the alerts grid to alerts from or to ``ip`` (keeps other grid filters);
        an empty ``ip`` clears that filter."""
        if isinstance(ip, str) and not ip.strip():
            self.ioc_panel.error = {}
            self.clear_ip_filter()
            return
        try:
            expressions, clause = grids.ip_filter(ip)
        except InputError as exc:
            self.show_error(exc, self.ioc_panel)
            return
        self.ioc_panel.error = {}  # an earlier bad address is no longer the news
        if self.grid is None:
            return
        kept = [f for f in self.grid.filter if not (f and f[0] == grids.IOC_EXPRESSION)]
        current = self.grid.expressions if isinstance(self.grid.expressions, dict) else {}
        self.ioc_panel.ip_filter = canonical(ip)
        # one message for both: set apart, the viewer could apply the filter before the
        # expression it names exists, drop it, and sync the dropped state back
        with self.grid.hold_sync():
            self.grid.expressions = {**current, **expressions}
            self.grid.filter = [*kept, clause]

    def clear_ip_filter(self) -> None:
        if self.grid is not None:
            current = self.grid.expressions if isinstance(self.grid.expressions, dict) else {}
            with self.grid.hold_sync():  # one message, as in filter_ip
                self.grid.filter = [
                    f for f in self.grid.filter if f and f[0] != grids.IOC_EXPRESSION
                ]
                self.grid.expressions = {
                    k: v for k, v in current.items() if k != grids.IOC_EXPRESSION
                }
        self.ioc_panel.ip_filter = ""

    # --- VirusTotal ---------------------------------------------------------------------
    def _vt_status(self, result=None) -> None:
        try:
            status = self.sauce.enricher.status()
        except Exception as exc:
            self.show_error(exc, self.ioc_panel)
            return
        self.ioc_panel.vt_mode = status["mode"]
        if status["mode"] == "offline":
            text = ("VirusTotal offline mode: no API key is configured, so only saved "
                    "reports are shown and nothing is sent to VirusTotal.")  # fmt: skip
        else:
            text = (f"VirusTotal live lookups: {status['quota_used_today']} of "
                    f"{status['quota_limit']} requests used today, "
                    f"{status['requests_per_minute']} per minute.")  # fmt: skip
        if result is not None and result.quota_exhausted:
            text += " The quota is exhausted; later lookups wait for tomorrow."
        self.ioc_panel.vt_status = text

    def enrich(self) -> None:
        """Look up the listed global addresses (cache, offline reports, then live)."""
        if self.iocs is None or self.ioc_panel.vt_running:
            return
        ips = views.global_ips(self.iocs)
        if not ips:
            self.ioc_panel.vt_notices = ["No global addresses to look up."]
            return
        self._vt_cancel = threading.Event()
        self.ioc_panel.vt_running = True
        self.ioc_panel.error = {}
        self.ioc_panel.vt_progress = {"done": 0, "total": len(ips), "message": "Starting"}

        def progress(p) -> None:
            state = {"done": p.done, "total": p.total, "eta": p.eta_seconds, "message": p.message}
            self.dispatcher.post(lambda: setattr(self.ioc_panel, "vt_progress", state))

        def done(result) -> None:
            self.ioc_panel.vt_running = False
            self.ioc_panel.vt_progress = {}
            frames = [f for f in (self.intel, result.frame) if f is not None and len(f)]
            merged = pd.concat(frames, ignore_index=True) if frames else result.frame
            self.intel = merged.drop_duplicates("ip", keep="last").reset_index(drop=True)
            errors = result.frame[result.frame["error"].notna()] if len(result.frame) else []
            notices = list(result.notices)
            if result.cancelled:
                notices.append("The lookups were cancelled; what was found is shown.")
            if len(errors):
                notices.append(f"{len(errors)} address(es) have a note in the VT note column.")
            self.ioc_panel.vt_notices = notices
            self._vt_status(result)
            self.refresh_iocs()

        def failed(exc: BaseException) -> None:
            self.ioc_panel.vt_running = False
            self.ioc_panel.vt_progress = {}
            self.show_error(exc, self.ioc_panel)

        self.vt_worker.submit(
            lambda: self.sauce.enrich(ips, progress=progress, cancel=self._vt_cancel),
            done,
            failed,
        )

    def cancel_enrich(self) -> None:
        self._vt_cancel.set()
