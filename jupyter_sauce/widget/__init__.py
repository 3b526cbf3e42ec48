"""The notebook front end: ``CaseWidget`` and the ``%sauce`` magic."""

from .case_widget import CaseWidget
from .magics import load_ipython_extension, unload_ipython_extension
from .worker import WidgetClosed

__all__ = ["CaseWidget", "WidgetClosed", "load_ipython_extension", "unload_ipython_extension"]
