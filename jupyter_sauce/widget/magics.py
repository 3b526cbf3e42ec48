"""``%load_ext jupyter_sauce`` and the ``%sauce [capture]`` line magic.

Every widget made by ``%sauce`` in one kernel shares one :class:`~jupyter_sauce.Sauce`
(so the warm Suricata engine loads its rules once); it is closed when the extension is
unloaded or the kernel exits.
"""

from __future__ import annotations

import argparse
import atexit
import builtins
import keyword
import shlex
import threading

from ..errors import SauceError

_shared = None
_lock = threading.Lock()

USAGE = "%sauce [--root FOLDER] [--name VARIABLE] [CAPTURE]"


def shared_sauce():
    """The kernel-wide Sauce built from the Jupyter config (created on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            from ..config import load_config
            from ..pipeline import Sauce

            _shared = Sauce(load_config())
            atexit.register(close_shared)
        return _shared


def close_shared() -> None:
    """Stop the shared pipeline (its warm Suricata engine)."""
    global _shared
    with _lock:
        sauce, _shared = _shared, None
    if sauce is not None:
        sauce.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%sauce", usage=USAGE, add_help=False, exit_on_error=False)
    p.add_argument("--root", default=None)
    p.add_argument("--name", default="sauce_widget")
    p.add_argument("capture", nargs="?", default=None)
    return p


def sauce_magic(line: str, ipython=None):
    """Display a CaseWidget (preselecting CAPTURE) and bind it to ``sauce_widget``."""
    from IPython.display import display

    from .case_widget import CaseWidget

    try:
        args, extra = _parser().parse_known_args(shlex.split(line))
        if extra:
            raise argparse.ArgumentError(None, f"unexpected {' '.join(extra)}")
        if not args.name.isidentifier() or keyword.iskeyword(args.name):
            raise argparse.ArgumentError(None, f"--name {args.name!r} is not a Python name")
        if args.name.startswith("__") or hasattr(builtins, args.name):
            # binding __builtins__ or print would break every later cell
            raise argparse.ArgumentError(
                None, f"--name {args.name!r} would hide Python's own {args.name}; choose another"
            )
    except (argparse.ArgumentError, ValueError) as exc:
        print(f"{exc}. Usage: {USAGE}")
        return None
    try:
        widget = CaseWidget(args.capture, root=args.root, sauce=shared_sauce())
    except SauceError as exc:
        print(exc.message)
        return None
    if ipython is not None:
        ipython.user_ns[args.name] = widget
    display(widget)
    return None


def load_ipython_extension(ipython) -> None:
    """Register ``%sauce`` (called by ``%load_ext jupyter_sauce``)."""
    ipython.register_magic_function(
        lambda line: sauce_magic(line, ipython), magic_kind="line", magic_name="sauce"
    )


def unload_ipython_extension(ipython) -> None:
    """Close the shared pipeline (``%unload_ext jupyter_sauce``)."""
    close_shared()
