"""Atomic file writes for the whole package (store, rulesets, VirusTotal cache and quota)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import StoreError


def _temp_copy(path: Path, data: bytes) -> str:
    """``data`` flushed to disk in a new temporary file beside ``path``; its name."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return tmp_name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one.

    The bytes go to a temporary file in the same directory, are flushed to disk and then
    renamed over ``path`` with :func:`os.replace` (atomic on POSIX and Windows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = _temp_copy(path, data)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented UTF-8 JSON, as every JSON file of the package is written."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
    # a file name that is not UTF-8 reaches Python as lone surrogates: written as JSON's
    # own \udcXX escapes, it reads back as the same name
    return text.encode("utf-8", "backslashreplace")


def atomic_write_json(path: Path, obj: Any) -> None:
    """Serialize ``obj`` as indented UTF-8 JSON and write it atomically."""
    atomic_write_bytes(path, json_bytes(obj))


def atomic_create(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless ``path`` exists; False if it did.

    The file is written under a temporary name, then hard-linked to ``path``, which fails
    rather than replace a file created meanwhile.
    """
    tmp_name = _temp_copy(path, data)
    try:
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(path):
                return False
            os.replace(tmp_name, path)
        return True
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def read_json_or(path: Path, fallback: Any) -> Any:
    """Read a JSON file we wrote ourselves; ``fallback`` if it does not exist.

    A corrupt file raises :class:`~jupyter_sauce.errors.StoreError` naming it: never
    silently reset (it may hold a day's VirusTotal quota use or saved answers).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return fallback
    except OSError as exc:
        raise StoreError(f"{str(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    try:
        data = json.loads(text)
    except ValueError:
        raise damaged(path, "it is not valid JSON") from None
    if fallback is not None and not isinstance(data, type(fallback)):
        kinds = f"{type(data).__name__}, not a {type(fallback).__name__}"
        raise damaged(path, f"it holds a JSON {kinds}")
    return data


def damaged(path: Path, why: str) -> StoreError:
    """The error for a file of ours that was changed or broken outside jupyter_sauce."""
    return StoreError(
        f"The file {str(path)!r} is damaged ({why}); move it away and jupyter_sauce starts "
        "it afresh."
    )
