"""vt-py in its own event-loop thread, so lookups also work where a loop already runs.

A Jupyter kernel runs an asyncio loop; vt-py's sync methods call ``run_until_complete``
and fail there. :class:`LiveClient` owns a private loop running forever in a daemon
thread; each lookup is submitted with :func:`asyncio.run_coroutine_threadsafe` and the
calling thread (any thread, with or without a loop) blocks on the result.

vt-py errors are translated to this package's: 404 -> :class:`NotFound`, 429 ->
:class:`QuotaExceeded`, 401 -> :class:`~jupyter_sauce.errors.CredentialsError`,
anything else -> :class:`LookupFailed`. No message ever contains the API key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp
import vt

from ..errors import CredentialsError, IntelError

log = logging.getLogger(__name__)

T = TypeVar("T")

REDACTED = "[redacted]"


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

    def fetch_ip(self, ip: str) -> dict[str, Any]:
        """The body of ``GET /api/v3/ip_addresses/{ip}``; raises the errors listed above."""
        loop_thread, client = self._ensure()
        log.debug("VirusTotal lookup of %s at %s", ip, self.host)
        try:
            body = loop_thread.run(
                client.get_json_async("/ip_addresses/{}", ip), timeout=self.timeout + 5.0
            )
        except vt.APIError as exc:
            raise self._translate(ip, exc) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, concurrent.futures.TimeoutError) as exc:
            reason = redact(str(exc) or type(exc).__name__, self._api_key)
            raise LookupFailed(
                f"VirusTotal could not be reached for {ip}: {reason}", details=type(exc).__name__
            ) from None
        except ValueError as exc:  # the answer was not JSON / had no data
            reason = redact(str(exc), self._api_key)
            raise LookupFailed(f"VirusTotal gave an unusable answer for {ip}: {reason}") from None
        if not isinstance(body, dict):
            raise LookupFailed(f"VirusTotal gave an unusable answer for {ip}: not a JSON object")
        return body

    def _translate(self, ip: str, exc: vt.APIError) -> IntelError:
        code = str(exc.code)
        message = redact(str(exc.message), self._api_key)
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
        return LookupFailed(f"VirusTotal lookup of {ip} failed: {code}: {message}")

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


async def _close_async(client: vt.Client | None, connector: aiohttp.BaseConnector | None) -> None:
    if client is not None:
        await client.close_async()
    if connector is not None and not connector.closed:
        await connector.close()
