"""vt-py in its own event-loop thread, so lookups also work where a loop already runs.

A Jupyter kernel runs an asyncio loop; vt-py's sync methods call ``run_until_complete``
and fail there. :class:`LiveClient` owns a private loop running forever in a daemon
thread; each lookup is submitted with :func:`asyncio.run_coroutine_threadsafe` and the
calling thread (any thread, with or without a loop) blocks on the result.

vt-py sends the request; the answer is read and parsed here. VirusTotal's error codes
are translated to this package's errors: ``NotFoundError`` -> :class:`NotFound`,
``QuotaExceededError`` (or a 429) -> :class:`QuotaExceeded`, ``WrongCredentialsError``
and the like -> :class:`~jupyter_sauce.errors.CredentialsError`, anything else ->
:class:`LookupFailed`, whose message is one sentence of ours (e.g.
"VirusTotal could not be reached at http://127.0.0.1:1 (connection refused).") and never
aiohttp's or json's text (that goes to ``details`` and the debug log). No message ever
contains the API key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import json
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import vt

from ..config import has_control_character
from ..errors import CredentialsError, InputError, IntelError
from .report import MAX_REPORT_BYTES

log = logging.getLogger(__name__)

T = TypeVar("T")

REDACTED = "[redacted]"

# an answer larger than any report file we would read is not an IP report
MAX_ANSWER_BYTES = MAX_REPORT_BYTES


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced (no-op for an empty secret)."""
    return text.replace(secret, REDACTED) if secret else text


class NotFound(IntelError):
    """VirusTotal has no report for the address (HTTP 404, NotFoundError)."""

    http_status = 404


class QuotaExceeded(IntelError):
    """VirusTotal refused the request: quota used up (HTTP 429, QuotaExceededError)."""

    http_status = 429


class LookupFailed(IntelError):
    """One lookup failed for another reason (network, server error, bad answer)."""

    http_status = 502


def host_problem(host: str) -> str | None:
    """Why ``host`` (VirusTotalConfig.host) cannot be the API's base URL, or None."""
    bad = f"VirusTotalConfig.host {host!r} is not an http(s) URL."
    if not host.isprintable() or any(char.isspace() for char in host):
        return bad
    try:
        parts = urlsplit(host)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        return bad
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return bad
    if parts.query or parts.fragment:
        return f"VirusTotalConfig.host {host!r} must be a base URL, without '?' or '#'."
    return None


def shown_host(host: str) -> str:
    """``host`` for messages: without a ``user:password@`` part, without a trailing slash."""
    parts = urlsplit(host)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return parts.geturl().rstrip("/")


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection could not be made, in a few words of ours."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    os_error = exc.os_error
    if isinstance(os_error, socket.gaierror):
        return "its host name could not be resolved"
    reasons = {
        errno.ECONNREFUSED: "connection refused",
        errno.ECONNRESET: "connection reset",
        errno.ETIMEDOUT: "connection timed out",
        errno.ENETUNREACH: "network unreachable",
        errno.EHOSTUNREACH: "host unreachable",
    }
    return reasons.get(getattr(os_error, "errno", None), "the connection failed")


class LoopThread:
    """An asyncio event loop running forever in a daemon thread, until :meth:`stop`."""

    def __init__(self, name: str = "jupyter-sauce-vt") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop thread and wait for its result (re-raising its error)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop the loop, join the thread and close the loop (idempotent)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
        if not self.loop.is_closed():
            self.loop.close()


class LiveClient:
    """Fetches raw VT v3 IP reports (the JSON body) with vt-py on a private loop thread.

    The thread and the ``vt.Client`` are created on first use and released by
    :meth:`close`. ``repr`` and every error message leave the key out.
    """

    def __init__(self, api_key: str, host: str, timeout: float) -> None:
        if not api_key:
            raise ValueError("LiveClient needs an API key")
        problem = host_problem(host)
        if problem is not None:
            raise InputError(problem)
        if has_control_character(api_key):
            raise InputError("The VirusTotal key contains a line break or control character.")
        self._api_key = api_key
        self.host = host.rstrip("/")
        self.timeout = float(timeout)
        self._loop_thread: LoopThread | None = None
        self._client: vt.Client | None = None
        self._connector: aiohttp.TCPConnector | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LiveClient(host={self.host!r}, timeout={self.timeout})"

    async def _make_client(self) -> vt.Client:
        # vt.Client builds an aiohttp connector bound to the current loop: build both here,
        # on the loop thread; we own the connector so close() releases it even if no
        # session was ever opened.
        self._connector = aiohttp.TCPConnector()
        return vt.Client(
            self._api_key,
            agent="jupyter_sauce",
            host=self.host,
            timeout=self.timeout,
            connector=self._connector,
        )

    def _ensure(self) -> tuple[LoopThread, vt.Client]:
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = LoopThread()
            if self._client is None:
                self._client = self._loop_thread.run(self._make_client(), self.timeout)
            return self._loop_thread, self._client

    def fetch_ip(self, ip: str, on_answer: Callable[[], object] | None = None) -> dict[str, Any]:
        """The body of ``GET /api/v3/ip_addresses/{ip}``; raises the errors listed above.

        ``on_answer`` is called once, before this returns or raises, if VirusTotal sent an
        HTTP response (any status: such a request counts against the quota); never for a
        request that got no answer (DNS failure, connection refused, timeout before one).
        """
        loop_thread, client = self._ensure()
        log.debug("VirusTotal lookup of %s at %s", ip, self.host)
        answered = threading.Event()  # set on the loop thread once the response has come
        try:
            status, data = loop_thread.run(
                _get_ip_answer(client, ip, MAX_ANSWER_BYTES, answered), timeout=self.timeout + 5.0
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, concurrent.futures.TimeoutError) as exc:
            # a ClientResponseError (e.g. too many redirects) was raised on a response
            if on_answer is not None and (
                answered.is_set() or isinstance(exc, aiohttp.ClientResponseError)
            ):
                on_answer()
            raise self._failure(ip, exc) from None
        if on_answer is not None:
            on_answer()
        if data is None:
            raise LookupFailed(
                f"VirusTotal's answer for {ip} is larger than {MAX_ANSWER_BYTES} bytes."
            )
        body, problem = _parse_json(data)
        if status != 200:
            raise self._http_error(ip, status, body)
        if problem is not None:
            raise LookupFailed(f"VirusTotal gave an unusable answer for {ip} ({problem}).")
        if not isinstance(body, dict):
            raise LookupFailed(f"VirusTotal gave an unusable answer for {ip} (not a JSON object).")
        return body

    def _failure(self, ip: str, exc: Exception) -> LookupFailed:
        """One sentence of ours for a request that got no answer; the library's own text
        (without the key) goes to ``details`` and the debug log only."""
        where = shown_host(self.host)
        if isinstance(exc, asyncio.TimeoutError | concurrent.futures.TimeoutError):
            message = f"VirusTotal did not answer within {self.timeout:g} seconds at {where}."
        elif isinstance(exc, aiohttp.InvalidURL):
            message = f"VirusTotalConfig.host {self.host!r} is not a usable URL."
        elif isinstance(exc, aiohttp.ClientConnectorError):
            message = f"VirusTotal could not be reached at {where} ({_connect_reason(exc)})."
        elif isinstance(exc, aiohttp.ServerDisconnectedError):
            message = f"VirusTotal at {where} closed the connection without answering."
        elif isinstance(exc, aiohttp.ClientResponseError):  # e.g. too many redirects
            message = f"VirusTotal gave an unusable answer for {ip} (HTTP {exc.status})."
        elif isinstance(exc, aiohttp.ClientPayloadError):
            message = f"VirusTotal's answer for {ip} was cut short."
        else:
            message = f"VirusTotal could not be reached at {where} (the connection failed)."
        details = f"{type(exc).__name__}: {redact(str(exc), self._api_key)}"
        log.debug("VirusTotal lookup of %s failed: %s", ip, details)
        return LookupFailed(message, details=details)

    def _http_error(self, ip: str, status: int, body: Any) -> IntelError:
        """The error for a non-200 answer: by VirusTotal's error code when the body has one
        (``{"error": {"code": ..., "message": ...}}``), else by the HTTP status."""
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, str) and code.strip():
            message = error.get("message")
            text = "" if message is None else redact(str(message), self._api_key)
            return self._translate(ip, code.strip(), text)
        log.debug("VirusTotal answered HTTP %s without an error code for %s", status, ip)
        if status == 429:
            return QuotaExceeded("VirusTotal quota exceeded (HTTP 429): live lookups stopped.")
        return LookupFailed(f"VirusTotal answered HTTP {status} for {ip}.")

    def _translate(self, ip: str, code: str, message: str) -> IntelError:
        log.debug("VirusTotal answered %s for %s", code, ip)
        if code == "NotFoundError":
            return NotFound("not found in VirusTotal", details=message)
        if code == "QuotaExceededError":
            return QuotaExceeded(
                "VirusTotal quota exceeded (HTTP 429): live lookups stopped.", details=message
            )
        if code in ("WrongCredentialsError", "AuthenticationRequiredError", "ForbiddenError"):
            return CredentialsError(
                f"VirusTotal rejected the API key ({code}): check VirusTotalConfig.api_key "
                "or the VT_API_KEY environment variable.",
                details=message,
            )
        text = " ".join(message.split())  # VirusTotal's own sentence, on one line
        text = text if len(text) <= 200 else text[:199] + "…"
        reason = f"{code}: {text.rstrip('.')}" if text else code
        return LookupFailed(f"VirusTotal lookup of {ip} failed ({reason}).", details=message)

    def close(self) -> None:
        """Close the vt-py session and stop the loop thread (idempotent)."""
        with self._lock:
            loop_thread, client, connector = self._loop_thread, self._client, self._connector
            self._loop_thread = self._client = self._connector = None
        if loop_thread is None:
            return
        try:
            loop_thread.run(_close_async(client, connector), self.timeout)
        finally:
            loop_thread.stop()


async def _get_ip_answer(
    client: vt.Client, ip: str, limit: int, answered: threading.Event
) -> tuple[int, bytes | None]:
    """Status and body of ``GET /ip_addresses/{ip}``; body None if over ``limit`` bytes.

    ``answered`` is set as soon as the response (status and headers) has arrived.
    The body is read and parsed by us, not by vt-py, whose error parsing fails on answers
    that are not VirusTotal's (a list, an error that is a string...).
    """
    response = await client.get_async("/ip_addresses/{}", ip)
    answered.set()
    data = bytearray()
    try:
        async for chunk in response.content.iter_any():
            data += chunk
            if len(data) > limit:
                response.close()  # the rest is never read: drop the connection
                return response.status, None
    finally:
        response.release()
    return response.status, bytes(data)


def _parse_json(data: bytes) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, why it is not usable JSON)``."""
    try:
        return json.loads(data), None
    except RecursionError:  # e.g. '[' * 100000
        return None, "JSON nested too deeply"
    except ValueError:  # not JSON, not UTF-8, or a number of thousands of digits
        return None, "not JSON"


async def _close_async(client: vt.Client | None, connector: aiohttp.BaseConnector | None) -> None:
    if client is not None:
        await client.close_async()
    if connector is not None and not connector.closed:
        await connector.close()
