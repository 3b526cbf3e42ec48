"""The CaseWidget's behaviour: browser actions in, pipeline work on threads, state out.

The controller owns the pipeline objects (``Sauce``, the current ``Case``, the range
filter, VirusTotal results) and writes what the panels show. Long work runs on
:class:`~.worker.Worker` threads so the kernel's event loop is never blocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..engine import Progress
from ..errors import Cancelled, RangeError
from ..networks import RangeFilter, parse_ranges
from ..pipeline import Case, Sauce
from ..userpaths import expand_user
from . import grid as grids
from . import views
from .ioc_control import IocControl
from .panels import ControlsPanel, IocPanel, RangesPanel
from .picker import Picker
from .worker import Dispatcher, Worker, error_payload

RANGE_FIELDS = ("exclude_src", "exclude_dst", "include_src", "include_dst")
PROGRESS_INTERVAL = 0.2  # seconds between progress updates sent to the browser
# a big table's IoCs wait until the browser has drawn the grid (its requests to the
# kernel's Perspective stopped for IOC_QUIET seconds), at most IOC_MAX_WAIT: the IoC work
# holds the GIL for seconds and would hold up the grid's requests
IOC_QUIET = 0.75
IOC_MAX_WAIT = 10.0
# Suricata notices a cancel between checks; a warm start only after it has loaded the rules
CANCELLING = "Cancelling: Suricata stops at its next check (after loading the rules)"


def same_result(a: Case, b: Case) -> bool:
    """Whether two Case objects are the same stored analysis (a re-run replaces an entry
    under the same key, with a new ``analysed_at`` and timings)."""

    def identity(case: Case) -> tuple:
        m = case.manifest
        return case.key, case.entry_dir, m.get("analysed_at"), str(m.get("timings"))

    return identity(a) == identity(b)


def grid_drawn(now: float, since: float, heard: float) -> bool:
    """Whether to take the grid as drawn: it sent requests after ``since`` (when it was
    shown) and none for :data:`IOC_QUIET` s, or :data:`IOC_MAX_WAIT` s have passed."""
    return (heard > since and now - heard >= IOC_QUIET) or now - since >= IOC_MAX_WAIT


def _later(_exc: BaseException) -> None:
    """A load ahead that failed: the click loads again and shows the error then."""


@dataclass
class Prepared:
    """A case with the range filter applied, ready to show (computed on a worker)."""

    case: Case
    flt: RangeFilter
    alerts: pd.DataFrame
    flows: pd.DataFrame
    table: pa.Table | None  # the grid's rows, until loaded into the grid (see _load)
    timeline: dict


class Controller(IocControl):
    """See the module docstring. ``show_grid(grid)`` puts the grid into the layout."""

    def __init__(
        self,
        sauce: Sauce,
        picker: Picker,
        controls: ControlsPanel,
        ranges: RangesPanel,
        iocs: IocPanel,
        show_grid: Callable[[object | None], None],
    ) -> None:
        self.sauce, self.picker = sauce, picker
        self.controls, self.ranges, self.ioc_panel = controls, ranges, iocs
        self._show_grid = show_grid
        self.dispatcher = Dispatcher(self.show_error)
        self.worker = Worker("analysis", self.dispatcher)
        self.vt_worker = Worker("virustotal", self.dispatcher)
        self.case: Case | None = None
        self._table_case: Case | None = None  # whose rows the grid's Table holds (worker)
        #: the Prepared those rows came from, None while the Table changes (a failed load
        #: leaves ``_table_case`` so that new ranges for the case shown load it again)
        self._loaded: Prepared | None = None
        #: the capture's name as the user chose it (the stored result may be of a copy)
        self.case_name = ""
        self.view: Prepared | None = None
        self.grid = None
        self.iocs: pd.DataFrame | None = None
        self.intel: pd.DataFrame | None = None
        self.last_exception: BaseException | None = None
        self._flt = RangeFilter()
        self._cancel = threading.Event()
        self._vt_cancel = threading.Event()
        self._generation = 0  # bumps when a new case is shown; stale results are dropped
        self._grid_heard = 0.0  # when the browser's grid last sent a request (monotonic)
        self._ioc_wait: object | None = None  # the pending wait for the grid to be drawn
        self._ioc_generation = 0
        self._last_progress = 0.0
        controls.home_net = sauce.suricata_config.home_net
        controls.warnings = list(sauce.notes)  # e.g. a shared store that is not used
        controls.rules = sauce.rules_config.rules
        controls.root_label = str(picker.root)
        for panel, actions in (
            (controls, {"cd": self.browse, "select": self.select, "run": self.run,
                        "rerun": lambda: self.run(rerun=True), "cancel": self.cancel,
                        "dismiss": lambda: self._clear_error(controls)}),
            (ranges, {"apply": self.apply_ranges, "clear": self.clear_ranges,
                      "dismiss": lambda: self._clear_error(ranges)}),
            (iocs, {"enrich": self.enrich, "filter_ip": self.filter_ip,
                    "clear_ip": self.clear_ip_filter, "cancel": self.cancel_enrich,
                    "dismiss": lambda: self._clear_error(iocs)}),
        ):  # fmt: skip
            for name, handler in actions.items():
                panel.on_action(name, handler)
        controls.observe(self._settings_changed, names=["rules", "home_net"])
        iocs.observe(lambda _change: self.refresh_iocs(), names=["source"])
        self.browse("")
        self._settings_changed(None)
        self._vt_status()

    # --- errors -------------------------------------------------------------------------
    def show_error(self, exc: BaseException, panel=None) -> None:
        """Show ``exc`` as one sentence (details on demand) in ``panel`` (default: controls)."""
        self.last_exception = exc
        (panel or self.controls).error = error_payload(exc)

    @staticmethod
    def _clear_error(panel) -> None:
        panel.error = {}

    # --- picker and settings ------------------------------------------------------------
    def browse(self, path: str = "") -> None:
        try:
            entries = self.picker.listing(path)
        except Exception as exc:
            self.show_error(exc)
            return
        self.controls.entries = entries
        self.controls.folder = path

    def select(self, path: str) -> None:
        """Choose a capture (relative to the root) and look for a stored result."""
        try:
            capture = self.picker.capture(path)
        except Exception as exc:
            self.show_error(exc)
            return
        self.controls.error = {}
        self.controls.selected = self.picker.relative(capture)
        self.controls.selected_name = capture.name
        self.controls.stored, self.controls.stored_notice = False, ""
        self._check_stored()

    def _check_stored(self) -> None:
        if not self.controls.selected:
            return
        selected = self.controls.selected
        try:
            capture = self.picker.capture(selected)
        except Exception as exc:
            self.show_error(exc)
            return
        rules, home_net = self._settings()

        def done(case: Case | None) -> None:
            if self.controls.selected != selected:
                return
            self.controls.stored = case is not None
            self.controls.stored_notice = views.stored_notice(case.manifest) if case else ""
            if case is not None and self.case is None and not self.controls.running:
                self._load_ahead(case)

        self.worker.submit(
            lambda: self.sauce.open(capture, rules=rules, home_net=home_net), done, self.show_error
        )

    def _load_ahead(self, case: Case) -> None:
        """Fill the grid's Table with a stored result while its notice is read, so that
        "Open stored result" only has to show it (a million alerts take seconds to load).
        Only while no case is shown: then the Table is off the page. A failure here is
        left for the click, which loads again and shows the error."""
        grid, flt = self._grid_for_load(), self._flt
        self.worker.submit(lambda: self._load(grid, case, flt), lambda _prepared: None, _later)

    def _settings(self) -> tuple[str | None, str | None]:
        rules = self.controls.rules.strip() or None
        return rules, self.controls.home_net.strip() or None

    def _settings_changed(self, _change) -> None:
        try:
            self.sauce.home_net(self.controls.home_net)
            self.controls.home_net_error = ""
        except RangeError as exc:
            self.controls.home_net_error = exc.message
        except Exception as exc:
            self.controls.home_net_error = error_payload(exc)["message"]
        rules, _ = self._settings()

        def done(label: dict) -> None:
            self.controls.rules_label = views.ruleset_label(label)

        def failed(exc: BaseException) -> None:
            self.controls.rules_label = ""
            self.show_error(exc)

        self.worker.submit(lambda: self.sauce.ruleset(rules).label, done, failed)
        if not self.controls.home_net_error:
            self._check_stored()

    # --- running ------------------------------------------------------------------------
    def run(self, rerun: bool = False) -> None:
        """Analyse the selected capture (the stored result unless ``rerun``)."""
        if self.controls.running:
            return
        if not self.controls.selected:
            self.controls.error = {"message": "Choose a capture first.", "details": ""}
            return
        if self.controls.home_net_error:
            self.controls.error = {"message": self.controls.home_net_error, "details": ""}
            return
        try:
            capture = self.picker.capture(self.controls.selected)
        except Exception as exc:  # e.g. the file was deleted or moved after it was chosen
            self.controls.selected, self.controls.selected_name = "", ""
            self.controls.stored, self.controls.stored_notice = False, ""
            self.browse(self.controls.folder)
            self.show_error(exc)
            return
        rules, home_net = self._settings()
        cancel = self._cancel = threading.Event()
        started = time.time()
        self.controls.error = {}
        self.controls.running = True
        self.controls.progress = {
            "phase": "start", "fraction": None, "message": "Starting", "started": started * 1000,
        }  # fmt: skip

        def progress(p: Progress) -> None:
            now = time.monotonic()
            if now - self._last_progress < PROGRESS_INTERVAL and p.fraction != 1.0:
                return
            self._last_progress = now
            message = CANCELLING if cancel.is_set() else p.message
            state = {"phase": p.phase, "fraction": p.fraction, "message": message,
                     "started": started * 1000}  # fmt: skip
            self.dispatcher.post(lambda: setattr(self.controls, "progress", state))

        grid = self._grid_for_load()

        def work() -> Prepared:
            case = self.sauce.analyze(
                capture, rules=rules, home_net=home_net, rerun=rerun,
                progress=progress, cancel=cancel,
            )  # fmt: skip
            return self._load(grid, case, self._flt, reuse=not rerun)

        def failed(exc: BaseException) -> None:
            self.controls.running = False
            self.controls.progress = {}
            if isinstance(exc, Cancelled):
                self.controls.notices = ["The run was cancelled; nothing was stored."]
            else:
                self.show_error(exc)

        self.worker.submit(work, lambda prepared: self._finish_run(prepared, capture.name), failed)

    def _finish_run(self, prepared: Prepared, name: str) -> None:
        self.controls.running = False
        self.controls.progress = {}
        self.case_name = name  # a stored result may come from a copy with another name
        self.show(prepared, new_case=True)
        self.controls.stored = True
        self.controls.stored_notice = views.stored_notice(prepared.case.manifest)
        self.browse(self.controls.folder)  # refresh the "analysed" marks

    def cancel(self) -> None:
        """Ask the running analysis to stop; the widget says so until it has stopped."""
        self._cancel.set()
        if self.controls.running:
            self.controls.progress = {**self.controls.progress, "message": CANCELLING}

    def load_case(self, case: Case) -> None:
        """Show an existing Case (e.g. one analysed from the CLI)."""
        grid = self._grid_for_load()

        def done(prepared: Prepared) -> None:
            self.case_name = case.manifest.get("capture", {}).get("name", "capture")
            self.show(prepared, new_case=True)

        self.worker.submit(lambda: self._load(grid, case, self._flt), done, self.show_error)

    def _grid_for_load(self):
        """The grid whose Table the work loads. It goes on the page when the work is done
        (see :meth:`show`), not before: a viewer already there makes the load half as slow
        again, and cannot draw before the load ends (it holds Perspective's server)."""
        grid = self.ensure_grid()
        if self.case is None:  # no view of the user's to keep: the cheapest one until shown
            with grid.hold_sync():
                grid.sort, grid.filter, grid.expressions = [], [], {}
        return grid

    def _load(
        self, grid, case: Case, flt: RangeFilter, *, same_case: bool = False, reuse: bool = True
    ) -> Prepared | None:
        """On the worker: prepare ``case`` and load it into the grid's Table (a million
        alerts take about a second in Perspective: not on the kernel's event loop).

        ``same_case`` (new ranges for the case shown): None, and the Table untouched,
        when another case was loaded since (a run that ended while this waited).
        """
        if same_case and self._table_case is not case:
            return None
        held = self._loaded
        if (
            reuse
            and not same_case
            and held is not None
            and held.flt == flt
            and same_result(held.case, case)
        ):
            # loaded ahead (see _load_ahead): its frames, with this opening's flags
            prepared = replace(held, case=replace(held.case, reused=case.reused))
            self._table_case, self._loaded = prepared.case, prepared
            return prepared
        prepared = self._prepare(case, flt)
        self._loaded = None  # while the Table changes
        grid.table.replace(grids.to_ipc(prepared.table))
        self._table_case = case
        prepared.table = None  # loaded: no need to keep it
        self._loaded = prepared
        return prepared

    @staticmethod
    def _prepare(case: Case, flt: RangeFilter) -> Prepared:
        alerts = case.alerts
        shown = flt.apply(alerts) if flt else alerts
        rows = alerts.index.get_indexer(shown.index) if flt else None
        flows = flt.apply(case.flows) if flt else case.flows
        capture = case.manifest.get("capture", {})
        return Prepared(
            case=case, flt=flt, alerts=shown, flows=flows,
            table=grids.grid_table(shown, rows),
            timeline=views.timeline(alerts, shown, capture.get("first_ts"), capture.get("last_ts")),
        )  # fmt: skip

    def show(self, prepared: Prepared, new_case: bool = False) -> None:
        """Put a prepared case on screen: grid, status, timeline, then IoCs."""
        if new_case:
            self._generation += 1
            self.intel = None
            self.ioc_panel.error = {}  # about the case shown before
        self.case, self.view = prepared.case, prepared
        manifest = prepared.case.manifest
        total = int(manifest.get("counts", {}).get("alerts", len(prepared.case.alerts)))
        self.ensure_grid()  # the Table holds the prepared alerts already (see _load)
        if new_case:
            self.ioc_panel.ip_filter = ""
            with self.grid.hold_sync():  # one message (see IocControl.filter_ip)
                # the filter first: it may name an expression (the IoC match), and the
                # observers refresh the IoCs after each change
                self.grid.filter = []
                self.grid.expressions = {}
                self.grid.sort = grids.default_sort(total)
        self.grid.layout.height = self.grid.layout.min_height = grids.grid_height(
            len(prepared.alerts)
        )
        self._show_grid(self.grid if total else None)
        self.controls.status = views.case_status(
            self.case_name, manifest, total, len(prepared.alerts)
        )
        self.controls.empty_state = (
            "" if total else
            f"No alerts: Suricata raised no alerts on {self.case_name} with "
            f"{views.ruleset_label(manifest.get('ruleset', {}))}. "
            "The hosts of the capture are listed below."
        )  # fmt: skip
        self.controls.notices = prepared.case.notices
        self.controls.warnings = prepared.case.warnings
        self.ranges.has_case = self.ioc_panel.has_case = True
        self.ranges.timeline = prepared.timeline
        self.ranges.summary = prepared.flt.describe()
        if new_case and not total:
            self.ioc_panel.source = "hosts"  # observed: refreshes the IoCs
        elif len(prepared.alerts) > grids.SORT_LIMIT and self.dispatcher.loop is not None:
            if new_case:
                self.ioc_panel.rows, self.ioc_panel.global_count = [], 0
            self.ioc_panel.scope = (
                f"Listing the addresses in the {len(prepared.alerts):,} alerts "
                "once the grid has drawn them."
            )
            self._iocs_after_draw(self.dispatcher.loop, time.monotonic())
        else:
            self.refresh_iocs()

    def _iocs_after_draw(self, loop, since: float) -> None:
        """Refresh the IoCs once :func:`grid_drawn` (checked on the loop every 0.25 s)."""
        token = self._ioc_wait = object()  # a newer wait, or any refresh, ends this one

        def check() -> None:
            if self._ioc_wait is not token or self.view is None:
                return
            if grid_drawn(time.monotonic(), since, self._grid_heard):
                self.refresh_iocs()
            else:
                loop.call_later(0.25, check)

        check()

    def _grid_message(self, _widget, _content, _buffers) -> None:
        self._grid_heard = time.monotonic()

    def ensure_grid(self):
        """The alerts grid, made on first use (empty, so the browser can load it early)."""
        if self.grid is None:
            self.grid = grids.make_grid(grids.EMPTY_ALERTS)
            self.grid.observe(lambda _c: self.refresh_iocs(), names=["filter", "expressions"])
            self.grid.on_msg(self._grid_message)  # the browser's requests (see grid_drawn)
        return self.grid

    # --- ranges -------------------------------------------------------------------------
    def apply_ranges(self, **texts: str) -> None:
        """Validate the four range fields; apply them (no Suricata run) if all parse."""
        for name, value in texts.items():
            if name in RANGE_FIELDS:
                setattr(self.ranges, name, value)
        for name in RANGE_FIELDS:
            try:
                parse_ranges(getattr(self.ranges, name))
            except RangeError as exc:
                self.ranges.range_error = {"field": name, "message": exc.message}
                return
        self.ranges.range_error = {}
        flt = RangeFilter.from_strings(**{n: getattr(self.ranges, n) for n in RANGE_FIELDS})
        self._flt = flt
        if self.case is None:
            self.ranges.summary = flt.describe()
            return
        case, generation, grid = self.case, self._generation, self.ensure_grid()
        self.ranges.applying = True

        def done(prepared: Prepared | None) -> None:
            self.ranges.applying = False
            if prepared is not None and generation == self._generation:
                self.show(prepared)

        def failed(exc: BaseException) -> None:
            self.ranges.applying = False
            self.show_error(exc, self.ranges)

        self.worker.submit(lambda: self._load(grid, case, flt, same_case=True), done, failed)

    def clear_ranges(self) -> None:
        self.apply_ranges(**dict.fromkeys(RANGE_FIELDS, ""))

    # --- lifetime -----------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Wait for queued work (outside a kernel; in a cell it would block the loop)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pending = self.worker.pending() + self.vt_worker.pending()
            if not pending:
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not (self.worker.wait(left) and self.vt_worker.wait(left)):
                return False

    def close(self) -> None:
        self._ioc_wait = None
        self.cancel()
        self.cancel_enrich()
        self.worker.shutdown()
        self.vt_worker.shutdown()


def default_root(capture: str | None) -> Path:
    """The picker root: the kernel's working directory, or the capture's folder if outside."""
    cwd = Path.cwd().resolve()
    if capture:
        path = expand_user(capture).resolve()
        if cwd not in path.parents:
            return path.parent
    return cwd
