"""One small exception hierarchy. Front ends turn these into messages at their boundary.

Every error carries a one-sentence ``message`` for people and optional ``details``
(e.g. the tail of Suricata's log) shown on demand. Subclasses of :class:`InputError`
mean the user gave something wrong (CLI exit code 2, HTTP 400); the rest are failures
(CLI exit code 1, HTTP 500 unless the class says otherwise).
"""

from __future__ import annotations


class SauceError(Exception):
    """Root of every error jupyter_sauce raises on purpose."""

    http_status = 500
    exit_code = 1
    #: the request field at fault (REST API), when one is; set by the front end that knows it
    field: str | None = None

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InputError(SauceError):
    """Something the user gave is wrong (a path, a range, a file, a setting)."""

    http_status = 400
    exit_code = 2


class CaptureError(InputError):
    """The capture file is missing, unreadable or not a capture."""


class RangeError(InputError):
    """A network range (CIDR list) could not be parsed."""


class RulesError(InputError):
    """A ruleset could not be found or read."""


class ReportError(InputError):
    """A VirusTotal report file is not a VT v3 IP-address report."""


class EngineError(SauceError):
    """Suricata is missing or failed."""


class SuricataMissing(EngineError):
    """No Suricata binary could be found."""


class Cancelled(SauceError):
    """The user cancelled the work."""

    http_status = 409


class StoreError(SauceError):
    """The case store could not be read or written."""


class IntelError(SauceError):
    """A VirusTotal lookup failed as a whole (not per IP)."""


class CredentialsError(IntelError):
    """VirusTotal rejected the API key (a server-side setting: 502, not a Jupyter login 401)."""

    http_status = 502
