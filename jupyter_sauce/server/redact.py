"""Keeping the VirusTotal key out of the server's log and its HTTP answers.

The key is whatever the pipeline itself would use: ``VirusTotalConfig.api_key``, the
``VT_API_KEY`` environment variable or the contents of ``VirusTotalConfig.api_key_file``
(:meth:`~jupyter_sauce.config.VirusTotalConfig.resolved_api_key`). :class:`Secrets`
follows that value (a rewritten key file is picked up) and keeps hiding earlier values.

Two log guards use it: a record factory that scrubs every record created anywhere in
the process (any logger, whatever handlers are attached later), and :class:`RedactSecret`,
a filter on the server's loggers and handlers as a second line.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..errors import SauceError
from ..virustotal.client import redact


class Secrets:
    """The current key (``resolve()``) and every earlier one; cheap to ask per log record."""

    def __init__(self, resolve: Callable[[], str], stamp: Callable[[], Any]) -> None:
        self._resolve = resolve
        self._stamp = stamp  # changes whenever resolve() may answer differently
        self._last: Any = object()
        self._known: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, vt_config: Any) -> Secrets:
        """The secrets of a ``VirusTotalConfig``."""

        def stamp() -> tuple:
            path = vt_config.api_key_file
            try:
                st = os.stat(os.path.expanduser(path)) if path else None
            except OSError:
                st = None
            when = (st.st_mtime_ns, st.st_size, st.st_ino) if st else None
            return (vt_config.api_key, path, when)

        return cls(vt_config.resolved_api_key, stamp)

    def values(self) -> tuple[str, ...]:
        """Every key to hide, longest first."""
        stamp = self._stamp()
        if stamp != self._last:
            with self._lock:
                try:
                    key = self._resolve().strip()
                except SauceError:  # an unreadable key file: no key to add
                    key = ""
                if key and key not in self._known:
                    self._known = tuple(sorted({*self._known, key}, key=len, reverse=True))
                self._last = stamp
        return self._known

    def redact(self, text: str) -> str:
        for secret in self.values():
            text = redact(text, secret)
        return text

    def found_in(self, text: str) -> bool:
        return any(secret in text for secret in self.values())


def scrub(record: logging.LogRecord, secrets: Secrets) -> None:
    """Redact the key from a record's message, traceback and stack text (in place)."""
    if not secrets.values():
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it when it is formatted
        return
    if secrets.found_in(message):
        record.msg, record.args = secrets.redact(message), ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if secrets.found_in(text):
            record.exc_text = secrets.redact(text)
    for name in ("exc_text", "stack_info"):
        value = getattr(record, name, None)
        if value and secrets.found_in(value):
            setattr(record, name, secrets.redact(value))


class RedactSecret(logging.Filter):
    """Scrub every record that passes (a logger or handler filter)."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__("jupyter_sauce.redact")
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record, self.secrets)
        return True


_ACTIVE: weakref.WeakSet[Secrets] = weakref.WeakSet()
_INSTALL_LOCK = threading.Lock()
_installed = False


def _install_factory() -> None:
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            for secrets in list(_ACTIVE):
                scrub(record, secrets)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def guard_logs(secrets: Secrets, loggers: list[logging.Logger]) -> None:
    """Keep the key out of every log record from now on (until :func:`release`)."""
    _install_factory()
    _ACTIVE.add(secrets)
    filt = RedactSecret(secrets)
    for logger in loggers:
        for target in (logger, *logger.handlers):
            for old in [f for f in target.filters if isinstance(f, RedactSecret)]:
                target.removeFilter(old)  # a previous app in this process (tests)
            target.addFilter(filt)


def release(secrets: Secrets) -> None:
    """Stop scrubbing for ``secrets`` in the record factory (the server stopped)."""
    _ACTIVE.discard(secrets)
