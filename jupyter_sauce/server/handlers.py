"""The base REST handler (auth, one JSON error shape, JSON bodies) and the small endpoints.

Every error, whatever raised it, answers with::

    {"error": {"status": 400, "code": "RangeError", "message": "...", "field": "exclude_src"}}

``field`` is null when no single request field is at fault. Messages of unexpected
errors are never shown (the log has them), and the VirusTotal key is redacted from
anything that is written or logged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.client import responses
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from traitlets.config import Config

from ..errors import RangeError, SauceError
from ..pipeline import Sauce
from .paths import iter_captures, relative_to_root
from .redact import Secrets
from .results import FieldError
from .runs import RunManager

AUTH_RESOURCE = "sauce"
T = TypeVar("T")
#: deeper JSON than this is no request of this API (its deepest is {"ips": ["..."]})
MAX_BODY_DEPTH = 32


class SettingError(SauceError):
    """A server setting is wrong, so the request cannot be served (HTTP 500)."""


@dataclass
class SauceContext:
    """What the handlers need, built once by SauceApp and passed via ``initialize()``.

    ``runs`` is None when the pipeline could not be set up from the server's settings;
    ``problem`` then says why, and every call that needs the pipeline answers with it.
    """

    runs: RunManager | None
    problem: SauceError | None
    config: Config
    root: Path
    allow_upload: bool
    uploads_dir: Path
    max_upload_size: int
    max_captures_listed: int
    max_intel_ips: int
    max_concurrent_runs: int
    secrets: Secrets

    @property
    def manager(self) -> RunManager:
        """The run manager, or the setup problem raised."""
        if self.runs is None:
            raise self.setup_error()
        return self.runs

    def require_pipeline(self) -> None:
        """Raise the setup problem unless the pipeline is set up."""
        if self.runs is None:
            raise self.setup_error()

    def setup_error(self) -> SauceError:
        """The setup problem as a fresh error (each request raises its own)."""
        problem = self.problem or SettingError("The analysis pipeline is not set up.")
        return type(problem)(problem.message)

    @property
    def sauce(self) -> Sauce:
        return self.manager.sauce


def configured_home_net(sauce: Sauce) -> list[str]:
    """The configured default HOME_NET, or a SettingError naming SuricataConfig.home_net."""
    try:
        return sauce.home_net()
    except RangeError as exc:
        raise SettingError(home_net_problem(exc.message)) from None


def home_net_problem(message: str) -> str:
    """One sentence: what is wrong with HOME_NET, naming the setting."""
    return f"{message.rstrip('.')} (SuricataConfig.home_net)."


def error_body(
    status: int, exc: BaseException | None, redact: Callable[[str], str]
) -> dict[str, Any]:
    """The one JSON error shape for ``exc`` (None: a bare HTTP status), key redacted."""
    code, message, field = responses.get(status, "Error").replace(" ", ""), "", None
    if isinstance(exc, SauceError):
        code, message, field = type(exc).__name__, exc.message, exc.field
    elif isinstance(exc, web.HTTPError):
        message = exc.log_message or exc.reason or responses.get(status, "Error")
        if exc.log_message and exc.args:  # tornado formats log_message with its args
            message = exc.log_message % exc.args
    elif exc is not None:
        code, message = "InternalError", "Internal server error; the server log has the details."
    if not message:
        message = responses.get(status, "Error")
    return {
        "error": {
            "status": status,
            "code": code,
            "message": redact(message),
            "field": None if field is None else redact(str(field)),
        }
    }


class SauceHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every jupyter_sauce handler: ``@authorized`` on resource ``sauce``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, name: str, context: SauceContext) -> None:  # type: ignore[override]
        super().initialize(name)
        self.ctx = context

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A URL path part as text; one that is not UTF-8 is a 400 naming it."""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            field = name or "path"
            raise FieldError(field, f"The {field!r} in the URL is not UTF-8 text.") from None

    # --- errors -------------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, SauceError):
            status_code = exc.http_status
            self.set_status(status_code)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(error_body(status_code, exc, self.ctx.secrets.redact)))

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        redact = self.ctx.secrets.redact
        if isinstance(value, SauceError):
            self.log.info(
                "jupyter_sauce: %s %s -> %s: %s",
                self.request.method,
                self.request.path,
                type(value).__name__,
                redact(value.message),
            )
        elif isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)
        else:
            text = redact(repr(value))
            self.log.error("jupyter_sauce: unexpected error in %s: %s", self.request.path, text)
            # the record factory of redact.py scrubs the key from the formatted traceback
            self.log.error("traceback", exc_info=(typ, value, tb))  # type: ignore[arg-type]

    # --- helpers ------------------------------------------------------------------------
    def json_body(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        """The request's JSON object; bad JSON (nested too deeply, or text that is not
        Unicode: a lone surrogate escape), unknown or missing fields -> 400."""
        try:
            body = json.loads(self.request.body or b"null")
        except RecursionError:
            raise FieldError("body", "The request body is nested too deeply.") from None
        except (ValueError, UnicodeDecodeError):
            raise FieldError("body", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise FieldError("body", "The request body must be a JSON object.")
        for name in body:
            if not _is_text(name):
                raise FieldError("body", "A field name is not valid Unicode text.")
            if name not in allowed:
                raise FieldError(name, f"Unknown field {name!r}; allowed: {', '.join(allowed)}.")
            for depth, value in _walk(body[name]):
                if depth > MAX_BODY_DEPTH:
                    raise FieldError(name, f"The field {name!r} is nested too deeply.")
                if isinstance(value, str) and not _is_text(value):
                    raise FieldError(
                        name, f"The field {name!r} holds a lone surrogate, which is not text."
                    )
        for name in required:
            if body.get(name) is None:
                raise FieldError(name, f"The field {name!r} is required.")
        return body

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking work (disk, Suricata, VirusTotal) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, partial(func, *args))

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(self.ctx.secrets.redact_json(json.dumps(data)))


def _is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text (JSON's ``\\ud800`` escapes can make it not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any) -> Iterator[tuple[int, Any]]:
    """(depth, item) of a parsed JSON value and everything in it (no recursion)."""
    stack = [(1, value)]
    while stack:
        depth, item = stack.pop()
        yield depth, item
        if depth > MAX_BODY_DEPTH:
            continue
        if isinstance(item, dict):
            stack.extend((depth + 1, v) for v in (*item.keys(), *item.values()))
        elif isinstance(item, list):
            stack.extend((depth + 1, v) for v in item)


class CapturesHandler(SauceHandler):
    """GET the capture files under the root dir, recursively."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(await self.in_thread(self._list))

    def _list(self) -> dict[str, Any]:
        sauce, root, limit = self.ctx.sauce, self.ctx.root, self.ctx.max_captures_listed
        items = []
        for path in iter_captures(root, limit + 1):
            if len(items) == limit:
                return {"captures": items, "truncated": True}
            st = path.stat()
            items.append(
                {
                    "path": relative_to_root(root, path),
                    "name": path.name,
                    "size": st.st_size,
                    "modified": _iso(st.st_mtime),
                    "sha256": sauce.store.known_sha256(path),
                    "analysed": sauce.is_analysed(path),
                }
            )
        return {"captures": items, "truncated": False}


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class SpecHandler(SauceHandler):
    """GET the OpenAPI description of this API."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        text = files("jupyter_sauce.server").joinpath("openapi.json").read_text("utf-8")
        self.finish(text)


class NotFoundHandler(SauceHandler):
    """Any other path under the API (a malformed run id, an unknown table): the JSON 404."""

    def _not_found(self, *args: Any) -> None:
        raise web.HTTPError(404, "No jupyter_sauce API endpoint matches this path.")

    get = post = put = patch = delete = web.authenticated(authorized(_not_found))
