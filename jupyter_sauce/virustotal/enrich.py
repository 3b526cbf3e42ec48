"""The orchestrator: local cache -> offline reports -> live VirusTotal, one row per IP.

Sources, in order, for every distinct global address:

1. the local cache (``cache_dir/cache`` reports fetched live earlier, and the
   not-found list) -> source ``cache``;
2. the offline reports directory (``VirusTotalConfig.reports_dir``, default
   ``cache_dir/reports``) -> source ``offline``;
3. a live lookup when an API key is configured -> source ``live``; the report is
   saved to the local cache *and* to the offline reports directory, so later analyses
   need no request and the reports can be exported or shared.

Every row's ``source`` is one of :data:`~.result.SOURCES`:

* ``cache``, ``offline``, ``live`` -- where the report (or the "not found in
  VirusTotal" answer, in ``error``) came from;
* ``none`` -- no key, and no cached or offline report: nothing known;
* ``skipped`` -- a non-global address (private, loopback, link-local, multicast,
  reserved, documentation...) never sent to VirusTotal unless ``lookup_non_global`` is
  set; ``error`` says why, e.g. "private address: not looked up";
* ``error`` -- no report because of a problem with this address, in ``error``: not an
  IP address, a failed live lookup, or one not made (quota, daily limit, cancelled).

Problems with the whole call (the key cannot be used, VirusTotal rejects it, a bad
``VirusTotalConfig.host``) raise instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..addresses import canonical_of, host_of
from ..config import VirusTotalConfig
from ..errors import InputError
from ..userpaths import make_folder
from .cache import (
    ExportedReports,
    LoadedReports,
    NotFoundList,
    ReportDir,
    export_reports,
    load_reports,
)
from .client import LiveClient, LookupFailed, NotFound, QuotaExceeded, host_problem
from .ipscope import ZONE_ID_ERROR, IPAddress, non_global_reason, parse_ip
from .ratelimit import DailyUsage, RateLimiter
from .report import file_name, gui_link, report_problem, summarize, validate_report
from .result import NOT_FOUND_ERROR, EnrichProgress, EnrichResult, empty_row, rows_to_frame

log = logging.getLogger(__name__)

NO_KEY_NOTICE = "No VirusTotal API key: offline reports only."
NOT_AN_IP_ERROR = "not an IP address"
MAX_FAILURES_IN_A_ROW = 3

ProgressCallback = Callable[[EnrichProgress], Any]
SkipPredicate = Callable[[IPAddress], "str | None"]


class Enricher:
    """VirusTotal enrichment of IP addresses; see the module docstring for the sources.

    ``skip_reason`` decides which addresses are never looked up (default: non-global
    ones); ``rate_limiter`` replaces the per-minute limiter built from the config (tests).
    """

    def __init__(
        self,
        config: VirusTotalConfig,
        cache_dir: Path,
        *,
        skip_reason: SkipPredicate | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.cache_dir = Path(cache_dir)
        self.reports_dir = (
            Path(config.reports_dir) if config.reports_dir else self.cache_dir / "reports"
        )
        if self.reports_dir.exists() and not self.reports_dir.is_dir():
            raise InputError(f"The reports directory {str(self.reports_dir)!r} is not a directory.")
        self._cache = ReportDir(self.cache_dir / "cache")
        self._offline = ReportDir(self.reports_dir)
        self._not_found = NotFoundList(self.cache_dir / "not_found.json")
        self._usage = DailyUsage(self.cache_dir / "usage.json")
        self._limiter = rate_limiter or RateLimiter(config.requests_per_minute, 60.0)
        self._skip_reason = skip_reason or non_global_reason
        self._client: LiveClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Enricher(mode={self.mode!r}, cache_dir={str(self.cache_dir)!r})"

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def mode(self) -> str:
        """``live`` when an API key is configured (and readable), else ``offline``."""
        return (
            "live" if self.key_problem() is None and self.config.resolved_api_key() else "offline"
        )

    def key_problem(self) -> str | None:
        """Why the configured key cannot be used for live lookups, or None: its file is
        unreadable, it holds a control character, or VirusTotalConfig.host is no URL."""
        problem = self.config.api_key_problem()
        if problem is None and self.config.resolved_api_key():
            problem = host_problem(self.config.host)
        return problem

    def status(self) -> dict[str, Any]:
        """Mode, today's quota use and limits, directories, a key problem. Never the key."""
        used = self._usage.used_today()
        return {
            "mode": self.mode,
            "key_problem": self.key_problem(),
            "host": self.config.host,
            "reports_dir": str(self.reports_dir),
            "cache_dir": str(self.cache_dir),
            "quota_used_today": used,
            "quota_limit": self.config.requests_per_day,
            "quota_remaining_today": max(0, self.config.requests_per_day - used),
            "requests_per_minute": self.config.requests_per_minute,
            "lookup_non_global": self.config.lookup_non_global,
        }

    # -- offline reports ---------------------------------------------------------------

    def import_reports(self, path: Path) -> LoadedReports:
        """Copy a report file, or the valid ``*.json`` of a directory, into the reports
        directory (see :func:`~.cache.load_reports` for what is skipped).

        Everything is read and validated before anything is written. An imported report
        replaces the cached one for its address.
        """
        loaded = load_reports(Path(path))
        for ip, body in loaded.reports.items():
            self._offline.put(ip, body)
            self._cache.remove(ip)
            self._not_found.discard(ip)
        return loaded

    def export_reports(self, dest: Path) -> ExportedReports:
        """Write every known report (cache and offline, the cache winning) to ``dest``.

        An existing file in ``dest`` is never replaced: one that differs is kept unchanged
        and named in the result (its ``notice`` says so in one sentence).
        """
        dest = make_folder(dest)
        reports = dict(self._offline.items())
        reports.update(self._cache.items())
        return export_reports(dest, reports)

    # -- enrichment ----------------------------------------------------------------------

    def enrich(
        self,
        ips: Iterable[str],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> EnrichResult:
        """One row per distinct address (input order); per-IP failures land in ``error``.

        Raises :class:`~jupyter_sauce.errors.CredentialsError` when VirusTotal rejects
        the key. A 429 or the daily limit stops live lookups and keeps what was found.
        """
        with self._lock:
            return self._enrich(ips, progress, cancel)

    def _enrich(
        self, ips: Iterable[str], progress: ProgressCallback | None, cancel: threading.Event | None
    ) -> EnrichResult:
        result = EnrichResult(frame=rows_to_frame([]), mode=self.mode)
        problem = self.key_problem()
        if problem is not None:  # a key was configured but cannot be used: say so, stop
            raise InputError(problem)
        if self.mode == "offline":
            result.notices.append(NO_KEY_NOTICE)
        self._cache.refresh()
        self._offline.refresh()
        rows: dict[str, dict[str, Any]] = {}  # by the address looked up
        shown: dict[str, str] = {}  # address asked for -> address looked up, input order
        pending: list[str] = []
        skipped = 0
        for text in ips:
            try:
                address = parse_ip(text)
            except ValueError as exc:
                key = str(text).strip()
                error = ZONE_ID_ERROR if str(exc) == ZONE_ID_ERROR else NOT_AN_IP_ERROR
                rows.setdefault(key, empty_row(key, "error", error))
                shown.setdefault(key, key)
                continue
            # VirusTotal knows ::ffff:8.8.8.8 and 64:ff9b::808:808 as 8.8.8.8
            host = host_of(address)
            ip = canonical_of(host)
            shown.setdefault(canonical_of(address), ip)
            if ip in rows:
                continue
            reason = None if self.config.lookup_non_global else self._skip_reason(host)
            if reason is not None:
                skipped += 1
                # no link either: opening it would be a lookup
                rows[ip] = empty_row(ip, "skipped", f"{reason}: not looked up")
            else:
                rows[ip] = self._local_row(ip, result)
                if rows[ip]["source"] == "none":
                    pending.append(ip)
        if skipped:
            result.notices.append(
                f"{skipped} non-global address(es) not looked up "
                "(set VirusTotalConfig.lookup_non_global to include them)."
            )
        total = len(rows)
        self._report(progress, total - len(pending), total, pending)
        if pending and self.mode == "offline":
            result.notices.append(f"{len(pending)} address(es) have no offline report.")
            self._report(progress, total, total, [])  # nothing more to wait for
        elif pending:
            self._live(pending, rows, result, progress, cancel, total)
        for directory in (self._cache, self._offline):
            for path, problem in sorted(directory.problems.items()):
                result.notices.append(f"Ignored {path}: {problem.rstrip('.')}.")
        result.frame = rows_to_frame(
            [rows[ip] if ip == asked else {**rows[ip], "ip": asked} for asked, ip in shown.items()]
        )
        result.quota_used_today = self._usage.used_today()
        result.quota_limit = self.config.requests_per_day
        return result

    def _local_row(self, ip: str, result: EnrichResult) -> dict[str, Any]:
        body = self._cache.get(ip)
        if body is not None:
            return self._report_row(ip, body, "cache")
        if self._not_found.contains(ip):
            result.not_found.append(ip)
            return empty_row(ip, "cache", NOT_FOUND_ERROR, gui_link(ip))
        body = self._offline.get(ip)
        if body is not None:
            return self._report_row(ip, body, "offline")
        return empty_row(ip, "none", None, gui_link(ip))

    @staticmethod
    def _report_row(ip: str, body: dict[str, Any], source: str) -> dict[str, Any]:
        row = empty_row(ip, source, None, gui_link(ip))
        row.update(summarize(body))
        return row

    def _report(
        self,
        progress: ProgressCallback | None,
        done: int,
        total: int,
        remaining: list[str],
        ip: str | None = None,
        source: str | None = None,
    ) -> None:
        if progress is None:
            return
        eta = self._limiter.eta(len(remaining)) if self.mode == "live" else 0.0
        message = f"{done}/{total} addresses" + (f" ({ip}: {source})" if ip else "")
        progress(EnrichProgress(done, total, eta, ip, source, message))

    def _live(
        self,
        pending: list[str],
        rows: dict[str, dict[str, Any]],
        result: EnrichResult,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        total: int,
    ) -> None:
        client = self._live_client()
        done = total - len(pending)
        stop_reason: str | None = None
        failures_in_a_row = 0
        failures: list[str] = []
        save_problem: str | None = None

        def answered() -> None:  # only a request VirusTotal answered counts against the quota
            self._usage.record(1)
            result.requests_made += 1

        for index, ip in enumerate(pending):
            if stop_reason is None and cancel is not None and cancel.is_set():
                result.cancelled = True
                stop_reason = "not looked up: cancelled"
            if stop_reason is None and self._usage.used_today() >= self.config.requests_per_day:
                limit = self.config.requests_per_day
                result.quota_exhausted = True
                stop_reason = f"not looked up: daily limit of {limit} VirusTotal requests used"
                result.notices.append(
                    f"Daily limit of {limit} VirusTotal requests used: live lookups stopped."
                )
            if stop_reason is None and not self._limiter.acquire(cancel):
                result.cancelled = True
                stop_reason = "not looked up: cancelled"
            if stop_reason is not None:
                rows[ip] = empty_row(ip, "error", stop_reason, gui_link(ip))
                continue
            try:
                body = client.fetch_ip(ip, on_answer=answered)
            except NotFound:
                self._not_found.add(ip)
                result.not_found.append(ip)
                rows[ip] = empty_row(ip, "live", NOT_FOUND_ERROR, gui_link(ip))
                failures_in_a_row = 0
            except QuotaExceeded as exc:
                result.quota_exhausted = True
                stop_reason = "not looked up: VirusTotal quota exceeded"
                rows[ip] = empty_row(ip, "error", "VirusTotal quota exceeded", gui_link(ip))
                result.notices.append(exc.message)
            except LookupFailed as exc:
                rows[ip] = empty_row(ip, "error", exc.message, gui_link(ip))
                failures.append(exc.message)
                failures_in_a_row += 1
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    stop_reason = f"not looked up: {failures_in_a_row} lookups failed in a row"
                    result.notices.append(
                        f"Live lookups stopped after {failures_in_a_row} failures in a row."
                    )
            else:
                failures_in_a_row = 0
                rows[ip], problem = self._accept_live(ip, body)
                save_problem = save_problem or problem
            done += 1
            self._report(progress, done, total, pending[index + 1 :], ip, rows[ip]["source"])
        if failures:  # also in the error column, which a terse table may leave out
            first = "" if len(failures) == 1 else ", the first"
            result.notices.append(
                f"{len(failures)} live lookup(s) failed{first}: {failures[0].rstrip('.')}."
            )
        if save_problem:
            result.notices.append(save_problem)
        if result.cancelled:
            result.notices.append("Cancelled: the remaining addresses were not looked up.")

    def _accept_live(self, ip: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        problem = report_problem(body)
        if problem is None and validate_report(body, "answer") != ip:
            problem = f"it describes {body['data']['id']}"
        if problem is not None:
            error = f"VirusTotal answered with something that is not the IP report: {problem}"
            return empty_row(ip, "error", error, gui_link(ip)), None
        self._cache.put(ip, body)
        save_problem = None
        if self._offline.directory.resolve() != self._cache.directory.resolve():
            try:
                self._offline.put(ip, body)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                save_problem = (
                    f"Live reports could not be saved to {self.reports_dir} ({reason}); "
                    f"they are kept in the local cache {self._cache.directory}."
                )
                log.warning("%s", save_problem)
        log.debug("saved VirusTotal report %s", file_name(ip))
        return self._report_row(ip, body, "live"), save_problem

    def _live_client(self) -> LiveClient:
        if self._client is None:
            self._client = LiveClient(
                self.config.resolved_api_key(), self.config.host, self.config.timeout
            )
        return self._client

    def close(self) -> None:
        """Stop the live client's loop thread, if one was started (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
