"""The jupyter_server extension: an authenticated REST API over the pipeline.

Only this package imports tornado and jupyter_server; the core library does not.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter_server where the extension app is (imported lazily)."""
    from .app import SauceApp

    return [{"module": "jupyter_sauce.server.app", "app": SauceApp}]


__all__ = ["_jupyter_server_extension_points"]
