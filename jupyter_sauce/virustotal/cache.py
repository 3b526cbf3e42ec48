"""On-disk report directories and the not-found list (the local cache).

Layout under the enricher's ``cache_dir``::

    cache_dir/cache/<ip>.json     the local cache: every report fetched live (VT v3 body)
    cache_dir/not_found.json      {ip: "YYYY-MM-DD"} addresses VirusTotal answered 404 for
    cache_dir/reports/<ip>.json   default offline reports directory (VirusTotalConfig.reports_dir)
    cache_dir/usage.json          per-day request counts (see ratelimit.DailyUsage)

Every file is written atomically (temp file + os.replace), and read-modify-write files
are updated under a file lock, so two processes can share one cache directory.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..atomicfile import atomic_create, atomic_write_json, damaged, json_bytes, read_json_or
from ..errors import ReportError
from .report import file_name, iter_valid_reports, read_report_file, report_files

log = logging.getLogger(__name__)

NOT_FOUND_TTL = timedelta(days=30)


class ReportDir:
    """A directory of VT v3 IP reports.

    Files this package writes are named by :func:`report.file_name`; files put there by
    people may have any ``*.json`` name, so a miss by name falls back to an index of the
    directory built from the files' contents (once per :meth:`refresh`). Invalid files
    are never used and are listed in :attr:`problems`.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._index: dict[str, Path] | None = None
        self.problems: dict[Path, str] = {}

    def refresh(self) -> None:
        """Forget the content index (files may have been added since)."""
        self._index = None
        self.problems = {}

    def _build_index(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        if self.directory.is_dir():
            for path, ip, body_or_problem in iter_valid_reports(self.directory):
                if ip is None:
                    self.problems[path] = str(body_or_problem)
                    log.debug("ignoring %s: %s", path, body_or_problem)
                else:
                    index.setdefault(ip, path)
        return index

    def get(self, ip: str) -> dict[str, Any] | None:
        """The report of canonical ``ip``, or None if the directory has none."""
        path = self.directory / file_name(ip)
        if path.is_file():
            try:
                found_ip, body = read_report_file(path)
            except ReportError as exc:
                self.problems[path] = exc.message
            else:
                if found_ip == ip:
                    return body
        if self._index is None:
            self._index = self._build_index()
        indexed = self._index.get(ip)
        if indexed is None or indexed == path:
            return None
        return read_report_file(indexed)[1]

    def put(self, ip: str, body: dict[str, Any]) -> Path:
        """Save the report of canonical ``ip`` atomically; returns its path."""
        path = self.directory / file_name(ip)
        atomic_write_json(path, body)
        if self._index is not None:
            self._index[ip] = path
        return path

    def remove(self, ip: str) -> None:
        """Delete the report of ``ip`` saved under this package's name, if any."""
        (self.directory / file_name(ip)).unlink(missing_ok=True)
        if self._index is not None:
            self._index.pop(ip, None)

    def items(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """Every valid report in the directory as ``(ip, body)``."""
        if not self.directory.is_dir():
            return
        for _path, ip, body in iter_valid_reports(self.directory):
            if ip is not None:
                yield ip, body


class NotFoundList:
    """Addresses VirusTotal does not know, remembered for :data:`NOT_FOUND_TTL`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock")

    def _load(self) -> dict[str, str]:
        return read_json_or(self.path, {})

    def contains(self, ip: str, today: date | None = None) -> bool:
        """Whether ``ip`` was answered "not found" within the last :data:`NOT_FOUND_TTL`."""
        seen = self._load().get(ip)
        if seen is None:
            return False
        today = today or datetime.now(timezone.utc).date()
        try:
            when = date.fromisoformat(seen)
        except (TypeError, ValueError):
            raise damaged(self.path, f"{seen!r} for {ip} is not a date") from None
        return today - when <= NOT_FOUND_TTL

    def add(self, ip: str, today: date | None = None) -> None:
        """Remember that VirusTotal answered 404 for ``ip`` today (UTC)."""
        today = today or datetime.now(timezone.utc).date()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = self._load()
            data[ip] = today.isoformat()
            atomic_write_json(self.path, data)

    def discard(self, ip: str) -> None:
        """Forget ``ip`` (e.g. a report for it was imported)."""
        if not self.path.exists():
            return
        with self._lock:
            data = self._load()
            if data.pop(ip, None) is not None:
                atomic_write_json(self.path, data)


@dataclass
class LoadedReports:
    """Valid reports (one per address), and what was left out and why."""

    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "<file>: <reason>"
    # one sentence per address with several reports, e.g.
    # "2 files for 8.8.8.8: kept b.json (newest analysis)."
    replaced: list[str] = field(default_factory=list)


def _analysed_at(body: dict[str, Any]) -> float:
    value = body["data"]["attributes"].get("last_analysis_date")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return -1.0
    return float(value) if math.isfinite(value) else -1.0


def load_reports(path: Path) -> LoadedReports:
    """Read and validate a report file or every ``*.json`` in a directory.

    One file: an invalid one raises :class:`ReportError`. A directory: invalid files are
    listed in ``skipped`` (a folder of exports often holds error answers too); none valid
    raises. Several reports for one address: the one with the newest
    ``last_analysis_date`` is kept, or the last given (in file name order) if none is
    newer than it; ``replaced`` says which file was kept for which address.
    """
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path} does not exist.")
    files = report_files(path)
    if not files:
        raise ReportError(f"{path} holds no .json report files.")
    if not path.is_dir():
        ip, body = read_report_file(files[0])
        return LoadedReports({ip: body})
    out = LoadedReports()
    dates: dict[str, list[float]] = {}  # by address: the analysis date of each file given
    kept: dict[str, str] = {}  # by address: the name of the file kept
    for file in files:
        try:
            ip, body = read_report_file(file)
        except ReportError as exc:
            out.skipped.append(exc.message)
            continue
        dates.setdefault(ip, []).append(_analysed_at(body))
        if ip in out.reports and _analysed_at(body) < _analysed_at(out.reports[ip]):
            continue  # an older one: the newest so far stays
        out.reports[ip], kept[ip] = body, file.name
    if not out.reports:
        raise ReportError(f"{path} holds no valid VirusTotal v3 IP report ({out.skipped[0]})")
    for ip, given in dates.items():
        if len(given) > 1:
            newest = _analysed_at(out.reports[ip])
            why = (
                "newest analysis"
                if given.count(newest) == 1
                else "the last given, none has a newer analysis date"
            )
            out.replaced.append(f"{len(given)} files for {ip}: kept {kept[ip]} ({why}).")
    return out


@dataclass
class ExportedReports:
    """What an export did: reports written to ``dest`` (or found there already, the same),
    and the names of existing files there that differ, kept unchanged (not overwritten)."""

    dest: Path
    written: int = 0
    kept: list[str] = field(default_factory=list)

    @property
    def notice(self) -> str | None:
        """One sentence about the existing files kept unchanged, or None if there were none."""
        if not self.kept:
            return None
        if len(self.kept) == 1:
            return (
                f"Kept 1 existing file in {self.dest} unchanged because it differs from the "
                f"report to export: {self.kept[0]} (move it away to export that report)."
            )
        return (
            f"Kept {len(self.kept)} existing files in {self.dest} unchanged because they "
            f"differ from the reports to export, the first {self.kept[0]} (move them away "
            "to export those reports)."
        )


def _same_report(path: Path, body: dict[str, Any]) -> bool:
    """Whether the file at ``path`` holds exactly ``body`` as JSON (unreadable: no)."""
    try:
        return json.loads(path.read_bytes()) == body
    except (OSError, ValueError, RecursionError):
        return False


def export_reports(dest: Path, reports: dict[str, dict[str, Any]]) -> ExportedReports:
    """Write ``{ip: body}`` to the existing folder ``dest`` as :func:`report.file_name` files.

    An existing file is never replaced: one holding the same report counts as written,
    any other (edited by someone, an older report, not a report) is kept unchanged and
    listed in ``kept``, and that report is not exported.
    """
    dest = Path(dest)
    out = ExportedReports(dest)
    for ip in sorted(reports, key=file_name):
        name, body = file_name(ip), reports[ip]
        path = dest / name
        if atomic_create(path, json_bytes(body)) or _same_report(path, body):
            out.written += 1
        else:
            out.kept.append(name)
            log.debug("export: kept the existing %s unchanged", path)
    return out
