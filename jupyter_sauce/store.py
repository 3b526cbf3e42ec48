"""The case store: analysis results keyed by content, written atomically.

Layout under the store root::

    entries/<key>/    manifest.json, eve.json, fast.log, suricata.log, alerts.parquet, flows.parquet
    locks/<key>.lock  held while an entry is being made (two identical runs -> one Suricata run)
    tmp/<key>.<pid>.<n>/  work in progress; renamed into entries/ when complete
    hashes/           capture path+size+mtime -> sha256, so "analysed?" needs no re-hash
    captures/<sha256> a marker: some entry holds results for this capture
    rulesets/         combined rule files by fingerprint

The key is sha256 of the capture's sha256, Suricata's version, the ruleset fingerprint and
the options, so a renamed copy hits the cache and an edited capture does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from .atomicfile import atomic_write_json
from .engine import ProgressCallback, wait_for
from .errors import StoreError
from .userpaths import expand_user

STORE_FORMAT = 1
ENTRY_FILES = ("manifest.json", "alerts.parquet", "flows.parquet")
MANIFEST_KEYS = ("capture", "engine", "ruleset", "options", "counts")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def manifest_ok(manifest: object) -> bool:
    """Whether a manifest has the shape front ends read (a hand-edited or damaged one
    makes its entry count as missing, so it is remade instead of failing every reader)."""
    if not isinstance(manifest, dict) or not all(k in manifest for k in MANIFEST_KEYS):
        return False
    capture, options = manifest["capture"], manifest["options"]
    return (
        isinstance(capture, dict)
        and isinstance(capture.get("name"), str)
        and isinstance(capture.get("sha256"), str)
        and isinstance(manifest["engine"], dict)
        and isinstance(manifest["engine"].get("name"), str)
        and isinstance(manifest["ruleset"], dict)
        and isinstance(options, dict)
        and isinstance(options.get("home_net"), list)
        and isinstance(manifest["counts"], dict)
        and all(isinstance(manifest.get(k, []), list) for k in ("warnings", "notices"))
    )


def _frames_ok(entry: Path) -> bool:
    """Whether the entry's Parquet files hold the alert and flow columns (footers only)."""
    from .frames import ALERT_SCHEMA, FLOW_SCHEMA  # pyarrow: only when a store is read

    try:
        alerts = pq.read_schema(entry / "alerts.parquet").names
        flows = pq.read_schema(entry / "flows.parquet").names
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return False
    return alerts == ALERT_SCHEMA.names and flows == FLOW_SCHEMA.names


class StoreNotWritable(StoreError):
    """The store directory cannot be created or written."""

    exit_code = 2


def entry_key(capture_sha256: str, suricata_version: str, rules_fp: str, options: dict) -> str:
    """The content key of one analysis."""
    blob = json.dumps(
        {
            "format": STORE_FORMAT,
            "capture": capture_sha256,
            "suricata": suricata_version,
            "rules": rules_fp,
            "options": options,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class CaseStore:
    """Content-keyed analysis entries on disk."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = expand_user(root)
        try:
            str(self.root).encode("utf-8")
        except UnicodeEncodeError:  # Suricata's YAML configuration names folders in it
            raise StoreNotWritable(
                f"The case store {str(self.root)!r} has a name that is not UTF-8, which "
                "Suricata's configuration cannot hold; set StoreConfig.store_dir or --store."
            ) from None
        try:
            for sub in ("entries", "locks", "tmp", "hashes", "rulesets", "captures"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root / "tmp"):
                pass
        except OSError as exc:
            raise StoreNotWritable(
                f"The case store {str(self.root)!r} is not writable "
                f"({exc.strerror or exc}); set StoreConfig.store_dir or --store."
            ) from exc
        self._sweep_tmp()

    @property
    def rulesets_dir(self) -> Path:
        return self.root / "rulesets"

    def entry_dir(self, key: str) -> Path:
        return self.root / "entries" / key

    def has(self, key: str) -> bool:
        """Whether a complete entry exists: its files readable, its manifest of the right
        shape, its frames of the right columns (a damaged one counts as missing: it is
        remade; an unreadable one, e.g. in a shared store, is passed over)."""
        entry = self.entry_dir(key)
        try:
            if not all((entry / name).is_file() for name in ENTRY_FILES):
                return False
            manifest = json.loads((entry / "manifest.json").read_text())
        except (OSError, ValueError, RecursionError):
            return False
        return manifest_ok(manifest) and _frames_ok(entry)

    def manifest(self, key: str) -> dict:
        path = self.entry_dir(key) / "manifest.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"The store entry {key} cannot be read: {exc}.") from exc

    def keys(self) -> list[str]:
        return sorted(
            p.name for p in (self.root / "entries").iterdir() if (p / "manifest.json").is_file()
        )

    @contextlib.contextmanager
    def lock(
        self,
        key: str,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[None]:
        """Hold the per-key lock (a file lock: works across processes); while another
        process holds it, ``progress`` hears so and ``cancel`` ends the wait (Cancelled)."""
        lock = FileLock(str(self.root / "locks" / f"{key}.lock"))

        def acquire(timeout: float) -> bool:
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                return False
            return True

        wait_for(acquire, cancel, progress)
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[Path]:
        """A temp dir to build an entry in; renamed into place only if the block succeeds."""
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.{os.getpid()}.", dir=self.root / "tmp"))
        try:
            yield tmp
            if not (tmp / "manifest.json").is_file():
                raise StoreError("An entry was built without a manifest.")
            target = self.entry_dir(key)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def remove(self, key: str) -> None:
        target = self.entry_dir(key)
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f"{key}.rm.", dir=self.root / "tmp"))
            os.rename(target, trash / key)
            shutil.rmtree(trash, ignore_errors=True)

    def mark_capture(self, sha256: str) -> None:
        """Remember that some entry holds results for the capture with this content."""
        (self.root / "captures" / sha256).touch()

    def has_capture(self, sha256: str) -> bool:
        try:
            return bool(_SHA256.fullmatch(sha256)) and (self.root / "captures" / sha256).exists()
        except OSError:  # an unreadable (shared) store holds nothing for us
            return False

    # capture hashes, so listing captures and "analysed?" checks need no re-hash
    def _hash_record(self, path: Path) -> Path:
        return (
            self.root / "hashes" / (hashlib.sha1(os.fsencode(path.resolve())).hexdigest() + ".json")
        )

    def known_sha256(self, path: Path) -> str | None:
        try:
            st = path.stat()
            rec = json.loads(self._hash_record(path).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict):  # damaged: only a cache, the capture is hashed again
            return None
        sha = rec.get("sha256")
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            return None  # damaged: only a cache, the capture is hashed again
        if rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
            return sha
        return None

    def remember_sha256(self, path: Path, sha256: str) -> None:
        st = path.stat()
        record = {
            "path": str(path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256,
        }
        atomic_write_json(self._hash_record(path), record)

    def _sweep_tmp(self) -> None:
        """Remove leftovers of killed runs (their pid no longer exists)."""
        for item in (self.root / "tmp").iterdir():
            parts = item.name.split(".")
            if len(parts) >= 3 and parts[1].isdigit():
                pid = int(parts[1])
                if pid != os.getpid() and not pid_alive(pid):
                    shutil.rmtree(item, ignore_errors=True)


class SharedStore(CaseStore):
    """Someone else's case store, read only (a teacher's, on a hub): never written or swept.

    One that is missing or unreadable holds nothing (``problem`` says why): a student's
    own analyses go on without it.
    """

    def __init__(self, root: str | os.PathLike) -> None:  # no mkdir, no write test, no sweep
        self.root = expand_user(root)
        self.problem: str | None = None
        entries = self.root / "entries"
        try:
            usable = entries.is_dir() and os.access(entries, os.R_OK | os.X_OK)
        except OSError:
            usable = False
        if not usable:
            self.problem = (
                f"The shared case store {str(self.root)!r} (StoreConfig.shared_store_dirs) "
                "has no readable entries folder; its analyses are not used."
            )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
