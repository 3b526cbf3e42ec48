"""Atomic file writes for the whole package (store, rulesets, VirusTotal cache and quota)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one.

    The bytes go to a temporary file in the same directory, are flushed to disk and then
    renamed over ``path`` with :func:`os.replace` (atomic on POSIX and Windows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Serialize ``obj`` as indented UTF-8 JSON and write it atomically."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json_or(path: Path, fallback: Any) -> Any:
    """Read a JSON file we wrote ourselves; ``fallback`` if it does not exist.

    A corrupt file raises ``ValueError`` (json.JSONDecodeError): never silently reset.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return fallback
    return json.loads(text)
