"""``CaseWidget``: the whole analysis of a capture in one notebook widget.

Top to bottom: capture picker and Run (:class:`~.panels.ControlsPanel`), the alerts grid
(perspective-python's ``PerspectiveWidget``), range filters and the timeline
(:class:`~.panels.RangesPanel`), IoCs and VirusTotal (:class:`~.panels.IocPanel`).
The behaviour lives in :class:`~.controller.Controller`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import ipywidgets
import pandas as pd
from traitlets.config import Config

from ..config import load_config
from ..errors import InputError, SauceError
from ..pipeline import Case, Sauce
from ..report import folder_free_for, write_owner
from ..userpaths import expand_user, make_folder
from .controller import RANGE_FIELDS, Controller, default_root
from .panels import ControlsPanel, IocPanel, RangesPanel
from .picker import Picker

ExportFormat = Literal["csv", "parquet", "json"]


class CaseWidget(ipywidgets.VBox):
    """Pick a capture, run Suricata, explore alerts, filter ranges, list and enrich IoCs.

    ``capture`` preselects a capture; ``root`` is the folder the picker never leaves
    (default: the working directory, or the capture's folder when it is outside it).
    ``sauce`` shares a pipeline (and its warm engine) between widgets; without one the
    widget builds its own from the Jupyter config and closes it with the widget.
    """

    def __init__(
        self,
        capture: str | os.PathLike | None = None,
        *,
        root: str | os.PathLike | None = None,
        sauce: Sauce | None = None,
        config: Config | None = None,
        rules: str | None = None,
        home_net: str | None = None,
        **kwargs,
    ) -> None:
        owns_sauce = sauce is None
        sauce = sauce if sauce is not None else Sauce(load_config(config))
        capture_text = None if capture is None else str(capture)
        picker_root = Path(root) if root is not None else default_root(capture_text)
        try:  # a bad root fails before any widget exists (none is left half made)
            picker = Picker(picker_root, analysed=sauce.is_analysed)
        except BaseException:
            if owns_sauce:
                sauce.close()
            raise
        super().__init__(**kwargs)
        self.add_class("sauce-case")
        self._owns_sauce, self.sauce, self.picker = owns_sauce, sauce, picker
        self.controls = ControlsPanel()
        self.ranges_panel = RangesPanel()
        self.ioc_panel = IocPanel()
        self.controller = Controller(
            self.sauce, self.picker, self.controls, self.ranges_panel, self.ioc_panel,
            self._place_grid,
        )  # fmt: skip
        self.children = (self.controls, self.ranges_panel, self.ioc_panel)
        if rules is not None:
            self.controls.rules = rules
        if home_net is not None:
            self.controls.home_net = home_net
        if capture_text is not None:
            self.select(capture_text)

    def _place_grid(self, grid) -> None:
        """Put the alerts grid under the controls, or take it out (``None``: no alerts).

        Not hidden with CSS instead: a Perspective viewer rendered while hidden does not
        draw its rows when shown again.
        """
        children = [self.controls, self.ranges_panel, self.ioc_panel]
        if grid is not None:
            children.insert(1, grid)
        if tuple(children) != tuple(self.children):
            self.children = tuple(children)

    # --- actions (what the buttons do) -----------------------------------------------
    def select(self, capture: str | os.PathLike) -> None:
        """Choose a capture by path (absolute, or relative to the working directory); one
        outside the picker's root is refused on the error line, like one chosen by hand."""
        try:
            if not isinstance(capture, str | os.PathLike) or "\0" in str(os.fspath(capture)):
                raise InputError(f"{capture!r} is not a capture path.")
            relative = self.picker.relative(expand_user(capture).absolute())
        except SauceError as exc:
            self.controller.show_error(exc)
            return
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        self.controller.browse(folder)
        self.controller.select(relative)

    def run(self, rerun: bool = False) -> None:
        """Analyse the selected capture on a worker thread (Run / Re-run)."""
        self.controller.run(rerun=rerun)

    def cancel(self) -> None:
        self.controller.cancel()

    def apply_ranges(self, **ranges: str) -> None:
        """Set range fields (``exclude_src=``, ``exclude_dst=``, ``include_src=``,
        ``include_dst=``) and apply them; a bad token sets ``range_error``."""
        unknown = sorted(set(ranges) - set(RANGE_FIELDS))
        if unknown:
            raise TypeError(f"unknown range field {unknown[0]!r}")
        for name, value in ranges.items():
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string of ranges, not {type(value).__name__}")
        self.controller.apply_ranges(**ranges)

    def enrich(self) -> None:
        """Enrich the listed global IPs with VirusTotal."""
        self.controller.enrich()

    def filter_ip(self, ip: str) -> None:
        """Filter the alerts grid to one address (as clicking it in the IoC table does);
        ``""`` clears that filter."""
        self.controller.filter_ip(ip)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until queued work is done. For scripts only: in a kernel cell it holds
        the event loop, so results are applied after the cell ends."""
        return self.controller.wait(timeout)

    # --- what is shown -----------------------------------------------------------------
    @property
    def case(self) -> Case | None:
        """The pipeline result shown (None before a run)."""
        return self.controller.case

    @property
    def grid(self):
        """The alerts ``PerspectiveWidget`` (None before the first case)."""
        return self.controller.grid

    @property
    def alerts(self) -> pd.DataFrame:
        """The alerts in view: range filters plus the grid's own filter."""
        return self.controller.alerts_in_view()

    @property
    def flows(self) -> pd.DataFrame:
        """The flows left by the range filters."""
        view = self.controller.view
        return view.flows if view is not None else pd.DataFrame()

    @property
    def iocs(self) -> pd.DataFrame:
        """The IoC table as shown (with VirusTotal columns and links)."""
        table = self.controller.iocs
        return table if table is not None else pd.DataFrame()

    @property
    def error(self) -> dict:
        """The error shown in the widget, if any: ``{"message", "details"}`` (a bad range
        or HOME_NET, shown next to its field, included)."""
        for panel in (self.controls, self.ranges_panel, self.ioc_panel):
            if panel.error:
                return dict(panel.error)
        if self.ranges_panel.range_error:
            return {"message": self.ranges_panel.range_error["message"], "details": ""}
        if self.controls.home_net_error:
            return {"message": self.controls.home_net_error, "details": ""}
        return {}

    def export(self, path: str | os.PathLike, format: ExportFormat = "csv") -> list[Path]:  # noqa: A002
        """Write ``alerts``, ``flows`` and ``iocs`` as shown into the folder ``path``, with a
        ``capture.json`` naming the capture: a folder holding other files or another
        capture's export is refused (this capture's own export is replaced)."""
        if format not in ("csv", "parquet", "json"):
            raise InputError(f"{format!r} is not an export format; use csv, parquet or json.")
        case = self.controller.case
        if case is None:
            raise InputError("There is nothing to export yet; run or open a capture first.")
        folder = make_folder(path)
        if not folder_free_for(folder, case.capture["sha256"]):
            raise InputError(
                f"{str(folder)!r} holds other files or another capture's export; export into "
                "a new or empty folder, or the one this capture was exported to."
            )
        written = []
        for name, frame in (("alerts", self.alerts), ("flows", self.flows), ("iocs", self.iocs)):
            target = folder / f"{name}.{format}"
            try:
                if format == "csv":
                    frame.to_csv(target, index=False)
                elif format == "parquet":
                    frame.to_parquet(target, index=False)
                else:
                    frame.to_json(
                        target, orient="records", date_format="iso", date_unit="us", indent=1
                    )
            except OSError as exc:
                raise InputError(
                    f"{str(target)!r} cannot be written: {exc.strerror or exc}."
                ) from exc
            written.append(target)
        owner = {"capture": self.controller.case_name, "sha256": case.capture["sha256"],
                 "key": case.key}  # fmt: skip
        written.append(write_owner(folder, owner))
        return written

    def close(self) -> None:
        """Stop background work, close the panels, and the pipeline if the widget owns it."""
        if not hasattr(self, "controller"):  # __init__ failed (ipywidgets still closes it)
            super().close()
            return
        self.controller.close()
        if self.controller.grid is not None:
            self.controller.grid.close()
        for panel in (self.controls, self.ranges_panel, self.ioc_panel):
            panel.close()
        if self._owns_sauce:
            self.sauce.close()
        super().close()
