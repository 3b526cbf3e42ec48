"""jupyter_sauce: packet-capture triage in Jupyter.

The core library (no tornado, no widgets): ``Sauce`` runs the pipeline and returns a
``Case``; ``RangeFilter`` / ``parse_ranges`` filter frames; ``alert_iocs`` / ``host_iocs``
extract IP addresses. Front ends: ``jupyter sauce`` (cli), ``%load_ext jupyter_sauce``
(the CaseWidget) and the server extension (``jupyter_sauce.server``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from .config import RulesConfig, StoreConfig, SuricataConfig, VirusTotalConfig, load_config
from .engine import Progress
from .errors import (
    CaptureError,
    EngineError,
    InputError,
    RangeError,
    ReportError,
    RulesError,
    SauceError,
    StoreError,
)
from .iocs import alert_iocs, host_iocs
from .networks import RangeFilter, Ranges, parse_ranges
from .pipeline import Case, Sauce

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

try:
    __version__ = version("jupyter_sauce")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "CaptureError",
    "Case",
    "EngineError",
    "InputError",
    "Progress",
    "RangeError",
    "RangeFilter",
    "Ranges",
    "ReportError",
    "RulesConfig",
    "RulesError",
    "Sauce",
    "SauceError",
    "StoreConfig",
    "StoreError",
    "SuricataConfig",
    "VirusTotalConfig",
    "alert_iocs",
    "host_iocs",
    "load_config",
    "parse_ranges",
]


def _jupyter_server_extension_points() -> list[dict]:
    """The server extension (imported lazily: the core stays free of tornado)."""
    from .server import _jupyter_server_extension_points as points

    return points()


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab sidebar panel (built from ``labextension/`` by npm)."""
    return [{"src": "labextension", "dest": "jupyter_sauce"}]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext jupyter_sauce``: register the ``%sauce`` magic (imports widgets lazily)."""
    from .widget.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext jupyter_sauce``: stop the kernel's shared pipeline."""
    from .widget.magics import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> object:
    """``from jupyter_sauce import CaseWidget``: the widget, imported on first use (the
    core library stays free of ipywidgets)."""
    if name == "CaseWidget":
        from .widget import CaseWidget

        return CaseWidget
    raise AttributeError(f"module 'jupyter_sauce' has no attribute {name!r}")
