"""``~`` in paths the user types, with a clear error when the home directory is unknown."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def expand_user(path: str | os.PathLike) -> Path:
    """``Path(path).expanduser()``, or an InputError for ``~nouser/...`` (no such user)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        head = str(path).split("/", 1)[0]
        raise InputError(
            f"{str(path)!r} starts with {head!r}, a home directory that does not exist here."
        ) from None
