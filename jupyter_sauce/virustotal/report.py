"""VirusTotal API v3 IP-address reports: validate, summarize, read, name.

A report is the JSON body of ``GET /api/v3/ip_addresses/{ip}``::

    {"data": {"type": "ip_address", "id": "8.8.8.8", "attributes": {...}, ...}}

Offline report files hold exactly that body, one address per file.
"""

from __future__ import annotations

import json
import math
import stat
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ReportError
from .ipscope import canonical_ip

GUI_URL = "https://www.virustotal.com/gui/ip-address/{ip}"

# the numeric/text summary fields taken from a report (frame columns of the same names)
STAT_FIELDS = ("malicious", "suspicious", "harmless", "undetected")

# real IP reports are tens of kilobytes; this only stops a wrong file from eating memory
MAX_REPORT_BYTES = 32 * 1024 * 1024
# real IP reports nest about 6 levels; deeper JSON could not be written back (recursion)
MAX_REPORT_DEPTH = 100


def gui_link(ip: str) -> str:
    """The VirusTotal web page of an address (canonical form, IPv6 compressed)."""
    return GUI_URL.format(ip=canonical_ip(ip))


def report_problem(body: Any) -> str | None:
    """What makes ``body`` not a VT v3 IP report (a sentence fragment), or None if valid."""
    if not isinstance(body, dict):
        return f"the top level is a JSON {type(body).__name__}, not an object"
    data = body.get("data")
    error = body.get("error")
    if data is None and isinstance(error, dict):
        return f'it has no "data" object (it is a VirusTotal error response, {error.get("code")})'
    if not isinstance(data, dict):
        return 'it has no "data" object'
    if data.get("type") != "ip_address":
        return f'data.type is {data.get("type")!r}, not "ip_address"'
    ident = data.get("id")
    if not isinstance(ident, str):
        return f"data.id is {ident!r}, not an IP address"
    try:
        canonical_ip(ident)
    except ValueError:
        return f"data.id {ident!r} is not an IP address"
    if not isinstance(data.get("attributes"), dict):
        return "data.attributes is missing or not an object"
    if _depth_exceeds(body, MAX_REPORT_DEPTH):
        return f"it is nested more than {MAX_REPORT_DEPTH} levels deep"
    return None


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests lists/objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def validate_report(body: Any, origin: str) -> str:
    """Check ``body`` is a VT v3 IP report and return its canonical IP.

    Raises :class:`~jupyter_sauce.errors.ReportError` naming ``origin`` (a file name or
    a description) and what is wrong, in one sentence.
    """
    problem = report_problem(body)
    if problem is not None:
        raise ReportError(f"{origin} is not a VirusTotal v3 IP report: {problem}.")
    return canonical_ip(body["data"]["id"])


def read_report_file(path: Path) -> tuple[str, dict[str, Any]]:
    """Read and validate one report file; returns ``(canonical ip, body)``.

    Raises :class:`ReportError` if the file cannot be read, is not JSON or is not an
    IP report.
    """
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise ReportError(f"{path} is not a regular file.")
        if st.st_size > MAX_REPORT_BYTES:
            raise ReportError(
                f"{path} is {st.st_size} bytes, too large for a VirusTotal IP report "
                f"(limit {MAX_REPORT_BYTES} bytes)."
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"{path} could not be read: {exc.strerror or exc}.") from exc
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise ReportError(
            f"{path} is not a VirusTotal v3 IP report: it is not UTF-8 text."
        ) from None
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path} is not a VirusTotal v3 IP report: it is not JSON "
            f"(line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:  # e.g. '[' * 100000
        raise ReportError(
            f"{path} is not a VirusTotal v3 IP report: its JSON is nested too deeply to read."
        ) from None
    except ValueError:  # e.g. an integer of more than 4300 digits
        raise ReportError(
            f"{path} is not a VirusTotal v3 IP report: it holds a number too long to read."
        ) from None
    return validate_report(body, str(path)), body


def report_files(path: Path) -> list[Path]:
    """The ``*.json`` files of a directory (sorted, no hidden files), or ``[path]`` for a file."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.glob("*.json") if p.is_file() and not p.name.startswith("."))
    return [path]


def file_name(ip: str) -> str:
    """The file name this package gives the report of ``ip`` (':' is not portable: '-')."""
    return canonical_ip(ip).replace(":", "-") + ".json"


_INT64 = 2**63 - 1
_LATEST_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def _int_or_none(value: Any) -> int | None:
    """A whole number that fits the int64 columns, else None (NaN, infinities, 1e30...)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    number = int(value)
    return number if -_INT64 <= number <= _INT64 else None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp_or_none(value: Any) -> datetime | None:
    seconds = _int_or_none(value)
    if seconds is None or not 0 <= seconds <= _LATEST_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def summarize(body: dict[str, Any]) -> dict[str, Any]:
    """Summary fields of a (validated) report: detection counts, reputation, AS, country, date.

    Missing or mistyped attributes become None (minimal reports are common).
    """
    attributes = body["data"]["attributes"]
    stats = attributes.get("last_analysis_stats")
    stats = stats if isinstance(stats, dict) else {}
    summary: dict[str, Any] = {name: _int_or_none(stats.get(name)) for name in STAT_FIELDS}
    summary["reputation"] = _int_or_none(attributes.get("reputation"))
    summary["as_owner"] = _text_or_none(attributes.get("as_owner"))
    summary["asn"] = _int_or_none(attributes.get("asn"))
    summary["country"] = _text_or_none(attributes.get("country"))
    summary["last_analysis_date"] = _timestamp_or_none(attributes.get("last_analysis_date"))
    return summary


def iter_valid_reports(directory: Path) -> Iterator[tuple[Path, str | None, Any]]:
    """Scan a directory: yield ``(path, ip or None, body or problem sentence)`` per file.

    Used to index a reports directory whose file names may not follow :func:`file_name`;
    invalid files are reported, not raised, so one bad file never hides the others.
    """
    for path in report_files(directory):
        try:
            ip, body = read_report_file(path)
        except ReportError as exc:
            yield path, None, exc.message
            continue
        yield path, ip, body
