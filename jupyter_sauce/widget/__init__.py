"""The notebook front end: ``CaseWidget`` and the ``%sauce`` magic."""

from .case_widget import CaseWidget
from .magics import load_ipython_extension, unload_ipython_extension

__all__ = ["CaseWidget", "load_ipython_extension", "unload_ipython_extension"]
