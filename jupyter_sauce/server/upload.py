"""PUT uploads/{name}: stream a capture into the uploads dir (off unless allow_upload).

The body is written to a hidden temp file as it arrives and renamed into place only when
complete, so a dropped connection or an oversized body leaves nothing behind. Auth and
authorization are checked in ``prepare()``, before a byte is written.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web

from ..capture import PCAP_MAGICS, PCAPNG_MAGIC, describe_content
from ..errors import SauceError
from .handlers import AUTH_RESOURCE, SauceHandler, SettingError
from .paths import CAPTURE_SUFFIXES, PathError, new_file_inside, relative_to_root


class UploadsDisabled(SauceError):
    """Uploads are switched off (SauceApp.allow_upload = False; HTTP 403)."""

    http_status = 403


class UploadTooLarge(PathError):
    """The upload is over SauceApp.max_upload_size (HTTP 413); the body is at fault."""

    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than the limit of {limit} bytes.", "body")


class UploadExists(PathError):
    """A file of that name is already in the uploads dir (HTTP 409)."""

    http_status = 409

    def __init__(self) -> None:
        super().__init__("A file of that name was already uploaded.", "name")


class UploadNotStored(SauceError):
    """The server could not write the upload, e.g. its disk is full (HTTP 507)."""

    http_status = 507


@web.stream_request_body
class UploadHandler(SauceHandler):
    """Stream a request body into ``uploads_dir/name``."""

    _tmp: Path | None = None
    _fh: IO[bytes] | None = None
    _received = 0
    _write_error: OSError | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "PUT":
            return
        if not self.current_user:
            raise web.HTTPError(403)
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "write", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, "User is not authorized to write on resource: sauce.")
        if not self.ctx.allow_upload:
            raise UploadsDisabled("Uploads are disabled on this server (SauceApp.allow_upload).")
        self.ctx.require_pipeline()  # a server that cannot analyse says why, as every call does
        name = self.path_kwargs.get("name", "")
        target = new_file_inside(self.ctx.uploads_dir, name, field="name")
        if not name.lower().endswith(CAPTURE_SUFFIXES):
            raise PathError(f"Only {', '.join(CAPTURE_SUFFIXES)} files can be uploaded.", "name")
        try:
            taken = target.exists()
        except OSError as exc:
            raise self._unusable(exc) from exc
        if taken:
            raise UploadExists()
        limit = self.ctx.max_upload_size
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise UploadTooLarge(limit)
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
        tmp = self.ctx.uploads_dir / f".upload-{uuid.uuid4().hex}.part"
        try:
            self.ctx.uploads_dir.mkdir(parents=True, exist_ok=True)
            self._fh = tmp.open("xb")
        except OSError as exc:
            raise self._unusable(exc) from exc
        self._tmp = tmp

    def _unusable(self, exc: OSError) -> SettingError:
        relative = relative_to_root(self.ctx.root, self.ctx.uploads_dir)
        return SettingError(
            f"The uploads folder {relative!r} (SauceApp.uploads_dir) cannot be used: "
            f"{exc.strerror or 'unknown error'}."
        )

    def data_received(self, chunk: bytes) -> None:
        if self._fh is None:
            return
        self._received += len(chunk)
        if self._received > self.ctx.max_upload_size:
            self._discard()
            return
        try:
            self._fh.write(chunk)
        except OSError as exc:  # e.g. a full disk: answered in put(), not a reset connection
            self._write_error = exc
            self._discard()

    @web.authenticated
    @authorized
    def put(self, name: str) -> None:
        if self._write_error is not None:
            reason = self._write_error.strerror or "unknown error"
            raise UploadNotStored(f"The server could not store the upload: {reason}.")
        if self._fh is None or self._tmp is None:
            self._discard()
            raise UploadTooLarge(self.ctx.max_upload_size)
        try:
            self._fh.close()  # flushes: a full disk can show here too
        except OSError as exc:
            self._fh = None
            self._discard()
            reason = exc.strerror or "unknown error"
            raise UploadNotStored(f"The server could not store the upload: {reason}.") from exc
        self._fh = None
        with self._tmp.open("rb") as fh:
            head = fh.read(64)
        if head[:4] not in PCAP_MAGICS and head[:4] != PCAPNG_MAGIC:
            self._discard()
            raise PathError(
                "The upload is not a pcap or pcapng capture; it looks like "
                f"{describe_content(head)}.",
                "body",
            )
        target = new_file_inside(self.ctx.uploads_dir, name, field="name")
        try:
            os.link(self._tmp, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise UploadExists() from None
        finally:
            self._discard()
        path = relative_to_root(self.ctx.root, target.resolve())
        self.send_json({"path": path, "name": name, "size": self._received}, status=201)

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def on_connection_close(self) -> None:
        self._discard()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._discard()
