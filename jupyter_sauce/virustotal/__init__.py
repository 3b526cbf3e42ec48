"""VirusTotal enrichment of IP addresses: local cache -> offline reports -> live (vt-py).

Typical use::

    from jupyter_sauce.config import VirusTotalConfig
    from jupyter_sauce.virustotal import Enricher

    with Enricher(VirusTotalConfig(), cache_dir) as enricher:
        result = enricher.enrich(["194.61.24.102", "10.42.85.10"], progress=print)
        result.frame      # one row per IP: counts, AS, country, source, error, link
                          # source: cache, offline, live, none, skipped or error (see .enrich)
        result.notices    # e.g. "No VirusTotal API key: offline reports only."
"""

from .cache import (
    NOT_FOUND_TTL,
    ExportedReports,
    LoadedReports,
    NotFoundList,
    ReportDir,
    load_reports,
)
from .client import LiveClient, LookupFailed, NotFound, QuotaExceeded
from .enrich import NO_KEY_NOTICE, Enricher
from .ipscope import canonical_ip, non_global_reason
from .ratelimit import DailyUsage, RateLimiter
from .report import file_name, gui_link, read_report_file, summarize, validate_report
from .result import (
    INTEL_COLUMNS,
    INTEL_SCHEMA,
    NOT_FOUND_ERROR,
    SOURCES,
    EnrichProgress,
    EnrichResult,
)

__all__ = [
    "INTEL_COLUMNS",
    "INTEL_SCHEMA",
    "NOT_FOUND_ERROR",
    "NOT_FOUND_TTL",
    "NO_KEY_NOTICE",
    "SOURCES",
    "DailyUsage",
    "EnrichProgress",
    "EnrichResult",
    "Enricher",
    "ExportedReports",
    "LiveClient",
    "LoadedReports",
    "LookupFailed",
    "NotFound",
    "NotFoundList",
    "QuotaExceeded",
    "RateLimiter",
    "ReportDir",
    "canonical_ip",
    "file_name",
    "gui_link",
    "load_reports",
    "non_global_reason",
    "read_report_file",
    "summarize",
    "validate_report",
]
