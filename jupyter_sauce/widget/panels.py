"""The CaseWidget's own anywidget panels: declarative synced state, no logic.

Each panel declares its state as traits tagged ``sync=True``; the browser sends user
actions as custom messages ``{"action": name, ...}`` which are routed to handlers the
controller registers with :meth:`ActionPanel.on_action`. One ESM file renders all three
panels (``_view`` picks which).
"""

from __future__ import annotations

import inspect
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import anywidget
from traitlets import Bool, Dict, Enum, Int, List, Unicode

log = logging.getLogger(__name__)

_STATIC = pathlib.Path(__file__).parent / "static"


class ActionPanel(anywidget.AnyWidget):
    """An anywidget whose browser actions are routed to registered handlers."""

    _esm = _STATIC / "sauce.js"
    _css = _STATIC / "sauce.css"
    _view = Unicode("").tag(sync=True)
    #: an error shown in this panel: {"message": one sentence, "details": text} or {}
    error = Dict().tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._actions: dict[str, Callable[..., None]] = {}
        self.on_msg(self._on_msg)

    def on_action(self, name: str, handler: Callable[..., None]) -> None:
        """Call ``handler(**arguments)`` when the browser sends action ``name``."""
        self._actions[name] = handler

    def act(self, name: str, **arguments: Any) -> None:
        """Run an action as if the browser had sent it (used by tests and the Python API)."""
        handler = self._actions.get(name)
        if handler is None:
            raise KeyError(f"{type(self).__name__} has no action {name!r}")
        handler(**arguments)

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("action"), str):
            log.warning("%s ignored a malformed message: %r", type(self).__name__, content)
            return
        name = content["action"]
        arguments = {k: v for k, v in content.items() if k != "action"}
        handler = self._actions.get(name)
        try:
            if handler is None:
                raise TypeError(f"no action {name!r}")
            inspect.signature(handler).bind(**arguments)
        except TypeError as exc:  # the page and the kernel disagree (an old page?): say so
            log.warning("%s ignored %r: %s", type(self).__name__, content, exc)
            self.error = {
                "message": f"The page sent an action the kernel cannot run ({name!r}); "
                "reload the page or run the cell again.",
                "details": str(exc),
            }
            return
        handler(**arguments)


class ControlsPanel(ActionPanel):
    """Capture picker, ruleset and HOME_NET, Run / Re-run / Cancel, progress, notices."""

    _view = Unicode("controls").tag(sync=True)
    root_label = Unicode("").tag(sync=True)
    folder = Unicode("").tag(sync=True)
    entries = List(Dict()).tag(sync=True)
    selected = Unicode("").tag(sync=True)
    selected_name = Unicode("").tag(sync=True)
    stored = Bool(False).tag(sync=True)
    stored_notice = Unicode("").tag(sync=True)
    rules = Unicode("").tag(sync=True)
    rules_label = Unicode("").tag(sync=True)
    home_net = Unicode("").tag(sync=True)
    home_net_error = Unicode("").tag(sync=True)
    running = Bool(False).tag(sync=True)
    #: {"phase", "fraction" (0..1 or None), "message", "started" (epoch ms)}
    progress = Dict().tag(sync=True)
    status = Unicode("").tag(sync=True)
    empty_state = Unicode("").tag(sync=True)
    notices = List(Unicode()).tag(sync=True)
    warnings = List(Unicode()).tag(sync=True)


class RangesPanel(ActionPanel):
    """Include / exclude network ranges with inline validation, and the alert timeline."""

    _view = Unicode("ranges").tag(sync=True)
    has_case = Bool(False).tag(sync=True)
    exclude_src = Unicode("").tag(sync=True)
    exclude_dst = Unicode("").tag(sync=True)
    include_src = Unicode("").tag(sync=True)
    include_dst = Unicode("").tag(sync=True)
    #: the field a bad token is in and the sentence naming it: {"field", "message"} or {}
    range_error = Dict().tag(sync=True)
    summary = Unicode("").tag(sync=True)
    applying = Bool(False).tag(sync=True)
    #: {"start", "end", "bin_seconds", "all": [counts], "shown": [counts]}
    timeline = Dict().tag(sync=True)


class IocPanel(ActionPanel):
    """IoC table (alerts in view or all hosts) with VirusTotal columns and links."""

    _view = Unicode("iocs").tag(sync=True)
    has_case = Bool(False).tag(sync=True)
    source = Enum(["alerts", "hosts"], default_value="alerts").tag(sync=True)
    columns = List(List(Unicode())).tag(sync=True)
    rows = List(Dict()).tag(sync=True)
    scope = Unicode("").tag(sync=True)
    ip_filter = Unicode("").tag(sync=True)
    vt_mode = Unicode("").tag(sync=True)
    vt_status = Unicode("").tag(sync=True)
    vt_running = Bool(False).tag(sync=True)
    #: {"done", "total", "eta", "message"}
    vt_progress = Dict().tag(sync=True)
    vt_notices = List(Unicode()).tag(sync=True)
    global_count = Int(0).tag(sync=True)
