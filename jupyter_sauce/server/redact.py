"""Keeping the VirusTotal key out of the server's log and its HTTP answers.

The key is whatever the pipeline itself would use: ``VirusTotalConfig.api_key``, the
``VT_API_KEY`` environment variable or the contents of ``VirusTotalConfig.api_key_file``
(:meth:`~jupyter_sauce.config.VirusTotalConfig.resolved_api_key`). :class:`Secrets`
follows that value (a rewritten key file is picked up) and keeps hiding earlier values.

Two log guards use it: a record factory that scrubs every record created anywhere in
the process (any logger, whatever handlers are attached later), and :class:`RedactSecret`,
a filter on the server's loggers and handlers as a second line.

The record factory also hides the value of any ``api_key`` in a dump of settings
(traitlets logs ``Config changed: {...}`` at debug level): it is installed before the
extension loads its config files, when the key itself is not known yet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import SauceError
from ..virustotal.client import REDACTED, redact

MIN_SECRET_LENGTH = 8


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
                # a shorter value is refused as a key (api_key_problem) and never sent;
                # hiding it would rewrite data ("1" in every address and date)
                if len(key) >= MIN_SECRET_LENGTH and key not in self._known:
                    self._known = tuple(sorted({*self._known, key}, key=len, reverse=True))
                self._last = stamp
        return self._known

    def redact(self, text: str) -> str:
        for secret in self.values():
            text = redact(text, secret)
        return text

    def redact_json(self, text: str) -> str:
        """``text``, a JSON document, with each key hidden as JSON writes it (a key with a
        quote or backslash in it is escaped there): the result is still JSON."""
        for secret in self.values():
            text = redact(text, json.dumps(secret)[1:-1])
        return text

    def found_in(self, text: str) -> bool:
        return any(secret in text for secret in self.values())


#: ``'api_key': '...'`` (a Python dict's repr) or ``"api_key": "..."`` (JSON) in a settings dump
_CONFIG_KEY = re.compile(
    r"""(?P<name>(?P<q>['"])api_key(?P=q)\s*:\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
)


def redact_config_dumps(text: str) -> str:
    """``text`` with the value of every ``api_key`` setting in it replaced."""
    if "api_key" not in text:
        return text
    return _CONFIG_KEY.sub(lambda m: f"{m['name']}{m['value'][0]}{REDACTED}{m['value'][0]}", text)


def scrub(record: logging.LogRecord, secrets: Secrets | None = None) -> None:
    """Redact the key (``secrets``) and ``api_key`` settings from a record's message,
    traceback and stack text (in place)."""

    def clean(text: str) -> str:
        text = redact_config_dumps(text)
        return secrets.redact(text) if secrets is not None else text

    try:
        message = record.getMessage()
    except Exception:  # a malformed record (msg % args fails, whatever the arguments are):
        # logging reports it when it is formatted, quoting msg and args, so clean those
        if isinstance(record.msg, str):
            record.msg = clean(record.msg)
        record.args = _clean_args(record.args, clean)
    else:
        cleaned = clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if clean(text) != text:
            record.exc_text = clean(text)
    for name in ("exc_text", "stack_info"):
        value = getattr(record, name, None)
        if value:
            setattr(record, name, clean(value))


def _clean_args(args: Any, clean: Callable[[str], str]) -> Any:
    """A malformed record's arguments, each cleaned where its text holds something to hide
    (kept as it is otherwise, so that logging's report shows the same mistake)."""

    def one(value: Any) -> Any:
        if isinstance(value, str):
            return clean(value)
        try:
            text = repr(value)
        except Exception:  # a broken __repr__: nothing of the value can be shown
            return f"<{type(value).__name__} object>"
        cleaned = clean(text)
        return value if cleaned == text else cleaned

    if isinstance(args, Mapping):  # "%(name)s" arguments: a setting's name is a key here
        return {key: REDACTED if key == "api_key" else one(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(one(value) for value in args)
    return one(args)


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


def guard_config_dumps() -> None:
    """Scrub every log record created in this process from now on: ``api_key`` settings
    always, the keys of :func:`guard_logs` while they are guarded. Idempotent."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            active = list(_ACTIVE)
            for secrets in active or [None]:
                scrub(record, secrets)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def guard_logs(secrets: Secrets, loggers: list[logging.Logger]) -> None:
    """Keep the key out of every log record from now on (until :func:`release`)."""
    guard_config_dumps()
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
