"""Resolving client-given paths inside the server's root directory.

Every path a REST client names (a capture, a rules directory, an upload) is relative to
the Jupyter server's ``root_dir``. Absolute paths, ``..`` components, NUL bytes and
symlinks that lead out of the root are refused with one fixed message that says nothing
about what exists outside (no detail leak).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import InputError

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
OUTSIDE_MESSAGE = "The path is not inside the server's root directory."
#: the longest file name (in UTF-8 bytes) Linux, macOS and Windows file systems accept
NAME_MAX = 255
#: the files of a rules folder the pipeline reads (see rules.from_path)
RULE_FILE_GLOB = "*.rules"
CLASSIFICATION = "classification.config"


class PathError(InputError):
    """A client path is wrong (HTTP 400); ``field`` names the request field that gave it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PathForbidden(PathError):
    """A client path points outside the root directory (HTTP 403)."""

    http_status = 403


class PathNotFound(PathError):
    """A client path names nothing inside the root directory (HTTP 404)."""

    http_status = 404


def _clean(user_path: str, field: str | None) -> PurePosixPath:
    """The relative path a client gave, or PathForbidden; never touches the disk."""
    if not isinstance(user_path, str) or not user_path.strip():
        raise PathError("The path is empty.", field)
    # a backslash is a separator only on Windows; "~" is never expanded (joined to the
    # root as written: the captures listing names files such as "~copy.pcap")
    if "\x00" in user_path or (os.sep == "\\" and "\\" in user_path):
        raise PathForbidden(OUTSIDE_MESSAGE, field)
    pure = PurePosixPath(user_path)
    if pure.is_absolute():
        raise PathForbidden(OUTSIDE_MESSAGE, field)
    if any(part == ".." for part in pure.parts):
        raise PathForbidden(OUTSIDE_MESSAGE, field)
    return pure


def resolve_inside(
    root: str | os.PathLike, user_path: str, *, kind: str = "file", field: str | None = None
) -> Path:
    """The real path of ``user_path`` under ``root``; it must exist and be a ``kind``.

    ``kind`` is ``"file"``, ``"dir"`` or ``"any"``. Symlinks are followed, and the target
    must still be inside ``root``. Errors name the request ``field`` the path came from.
    """
    pure = _clean(user_path, field)
    real_root = Path(root).resolve()
    candidate = real_root.joinpath(*pure.parts)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        # missing, a dangling symlink or a symlink loop: the same answer for all of them
        raise PathNotFound("No such file or directory under the server's root.", field) from None
    if not real.is_relative_to(real_root):
        raise PathForbidden(OUTSIDE_MESSAGE, field)
    if kind == "file" and not real.is_file():
        raise PathNotFound("No such file under the server's root.", field)
    if kind == "dir" and not real.is_dir():
        raise PathNotFound("No such directory under the server's root.", field)
    return real


def check_rules_inside(root: str | os.PathLike, rules: Path, field: str | None = None) -> None:
    """PathForbidden unless every file the pipeline would read for the rules path ``rules``
    (already resolved inside ``root``) is inside ``root`` too: its ``*.rules`` files and
    ``classification.config``, symlinks followed (a dangling one by where it points)."""
    real_root = Path(root).resolve()
    if rules.is_dir():
        files = [*rules.glob(RULE_FILE_GLOB), rules / CLASSIFICATION]
    else:
        files = [rules, rules.parent / CLASSIFICATION]
    for file in files:
        try:
            real = file.resolve()
        except (OSError, RuntimeError):  # a symlink loop: leads nowhere, so not out either
            continue
        if not real.is_relative_to(real_root):
            raise PathForbidden(OUTSIDE_MESSAGE, field)


def new_file_inside(directory: Path, name: str, field: str | None = None) -> Path:
    """A path for a new file ``name`` (a bare file name) directly in ``directory``."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name != os.path.basename(name)
    ):
        raise PathError("The file name must be a plain name without directories.", field)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        # a newline, escape or right-to-left override makes a name that lies when shown
        raise PathError("The file name must not contain control or formatting characters.", field)
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        raise PathError(f"The file name is longer than {NAME_MAX} bytes.", field)
    return directory / name


def relative_to_root(root: str | os.PathLike, path: Path) -> str:
    """``path`` (inside ``root``) as the POSIX relative path clients use."""
    return Path(path).relative_to(Path(root).resolve()).as_posix()


def iter_captures(root: str | os.PathLike, limit: int) -> Iterator[Path]:
    """Capture files under ``root`` (recursive, hidden entries skipped, symlinks leading
    out skipped), at most ``limit`` of them, in a stable order."""
    real_root = Path(root).resolve()
    found = 0
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(CAPTURE_SUFFIXES):
                continue
            path = Path(dirpath) / name
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue  # dangling link: nothing to analyse
            if not real.is_relative_to(real_root) or not real.is_file():
                continue
            yield path
            found += 1
            if found >= limit:
                return
