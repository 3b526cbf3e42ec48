"""Paths the user types: ``~`` (a clear error when the home directory is unknown) and
folders to write into (a clear error when one cannot be made)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def expand_user(path: str | os.PathLike) -> Path:
    """``Path(path).expanduser()``; for ``~nouser/...`` (no such user) the path as written
    if it exists (a file named ``~copy.pcap``, as a shell leaves it), else an InputError."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        if os.path.lexists(path):
            return Path(path)
        head = str(path).split("/", 1)[0]
        raise InputError(
            f"{str(path)!r} starts with {head!r}, a home directory that does not exist here."
        ) from None


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and its parents) if need be; InputError if it cannot be."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"{path!r} is not a folder path.")
    if not os.fspath(path).strip():  # '' would quietly be the working directory
        raise InputError("The folder name is empty; give a folder to write into.")
    folder = expand_user(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{str(folder)!r} is a file, not a folder to write into.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"The folder {str(folder)!r} cannot be created: {exc.strerror or exc}."
        ) from exc
    return folder
