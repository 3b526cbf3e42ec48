"""Browsing folders for captures under a root directory, never above it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..userpaths import expand_user

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


class Picker:
    """Folder listing under ``root``. Paths given to it are relative to ``root``.

    ``analysed`` says whether a capture already has a stored result (e.g.
    ``Sauce.is_analysed``); it must be cheap, as it is asked for every listed capture.
    """

    def __init__(self, root: str | os.PathLike, analysed: Callable[[Path], bool] | None = None):
        root_path = expand_user(root)
        if not root_path.is_dir():
            what = "is not a folder" if root_path.exists() else "does not exist"
            raise InputError(f"The capture folder {str(root_path)!r} {what}.")
        self.root = root_path.resolve()
        self._analysed = analysed

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative``; InputError if it leaves the root."""
        if not isinstance(relative, str) or "\0" in relative:
            raise InputError(f"{relative!r} is not a path in the capture folder.")
        path = (self.root / (relative or ".")).resolve()
        if path != self.root and self.root not in path.parents:
            raise InputError(f"{relative!r} is outside the capture folder {str(self.root)!r}.")
        return path

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` relative to the root ('' for the root); InputError if outside it."""
        resolved = expand_user(path).resolve()
        if resolved == self.root:
            return ""
        if self.root not in resolved.parents:
            raise InputError(f"{str(path)!r} is outside the capture folder {str(self.root)!r}.")
        return resolved.relative_to(self.root).as_posix()

    def listing(self, relative: str = "") -> list[dict]:
        """Folders then captures of one folder: ``{name, path, kind, size, analysed}``.

        Hidden entries are left out; ``kind`` is ``up`` (the parent, except at the root),
        ``dir`` or ``capture``.
        """
        folder = self.resolve(relative)
        if not folder.is_dir():
            raise InputError(f"{relative!r} is not a folder.")
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
        except PermissionError as exc:
            raise InputError(f"The folder {relative or '.'!r} cannot be read.") from exc
        entries: list[dict] = []
        if folder != self.root:
            entries.append(
                {"name": "..", "path": self.relative(folder.parent), "kind": "up", "size": 0}
            )
        dirs, captures = [], []
        for child in children:
            if child.name.startswith("."):
                continue
            try:
                if child.is_dir():
                    dirs.append({"name": child.name, "path": self.relative(child), "kind": "dir"})
                elif child.suffix.lower() in CAPTURE_SUFFIXES and child.is_file():
                    captures.append(
                        {
                            "name": child.name,
                            "path": self.relative(child),
                            "kind": "capture",
                            "size": child.stat().st_size,
                            "analysed": bool(self._analysed and self._analysed(child)),
                        }
                    )
            except (OSError, InputError):
                # a broken symlink or one pointing outside the root is not listed
                continue
        return entries + dirs + captures

    def capture(self, relative: str) -> Path:
        """The absolute path of a capture under the root; InputError if not one."""
        path = self.resolve(relative)
        if path.is_dir():
            if not relative:
                raise InputError(
                    f"{str(self.root)!r} is the capture folder itself; choose a capture in it."
                )
            raise InputError(f"{relative!r} is a folder; choose a capture file in it.")
        if not path.is_file():
            raise InputError(f"{relative!r} is not a file in the capture folder.")
        return path
