"""Configuration: traitlets ``Configurable`` classes shared by the CLI, the kernel and the server.

A hub admin sets them once, e.g. in ``/etc/jupyter/jupyter_sauce_config.py`` (CLI and
kernel) or ``jupyter_server_config.py`` (server)::

    c.SuricataConfig.suricata_path = "/usr/bin/suricata"
    c.RulesConfig.rules = "/srv/rules/et-open"
    c.VirusTotalConfig.reports_dir = "/srv/vt-reports"

Nothing here is a module global: front ends build these objects and pass them in.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import TypeVar

from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, default
from traitlets.config import Config, Configurable

from .errors import InputError

DEFAULT_HOME_NET = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"


class SuricataConfig(Configurable):
    """How Suricata is found and run."""

    suricata_path = Unicode(
        "suricata", help="Suricata binary (name on PATH or absolute path)."
    ).tag(config=True)
    runner = Enum(["local"], default_value="local", help="Where Suricata runs.").tag(config=True)
    warm = Bool(
        True, help="Keep one Suricata in unix-socket mode with the rules loaded (warm engine)."
    ).tag(config=True)
    runmode = Enum(
        ["single", "autofp"],
        default_value="single",
        help="Suricata runmode (single is deterministic; autofp uses more cores).",
    ).tag(config=True)
    home_net = Unicode(
        DEFAULT_HOME_NET, help="Default HOME_NET for an analysis (CIDRs, comma or space separated)."
    ).tag(config=True)
    max_capture_size = Int(
        0, min=0, help="Refuse captures larger than this many bytes (0: no limit)."
    ).tag(config=True)
    timeout = Float(
        3600.0, min=1.0, help="Give up on one Suricata run after this many seconds."
    ).tag(config=True)


class RulesConfig(Configurable):
    """Which ruleset analyses use."""

    rules = Unicode(
        "",
        help=(
            "Default ruleset: a directory of .rules files, one .rules file, 'starter' (the "
            "project's own small ruleset), 'installed' (what suricata-update installed), or "
            "'' to use the installed ET Open rules when present and the starter rules otherwise."
        ),
    ).tag(config=True)
    bad_ips = List(
        Unicode(),
        default_value=["203.78.103.109"],
        help="Addresses the starter ruleset flags when a TLS session goes to them.",
    ).tag(config=True)
    data_dir = Unicode(
        "", help="Where 'jupyter sauce rules update' keeps suricata-update's data."
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        from platformdirs import user_data_dir

        return str(Path(user_data_dir("jupyter_sauce")) / "suricata-update")


class StoreConfig(Configurable):
    """Where analysis results (the case store) live."""

    store_dir = Unicode("", help="Case store directory (default: a per-user cache dir).").tag(
        config=True
    )
    shared_store_dirs = List(
        Unicode(),
        help=(
            "Read-only case stores consulted after store_dir, e.g. a teacher's store of the "
            "class captures analysed once with the hub's rules: students open them instantly."
        ),
    ).tag(config=True)

    @default("store_dir")
    def _default_store_dir(self) -> str:
        from platformdirs import user_cache_dir

        return str(Path(user_cache_dir("jupyter_sauce")) / "cases")


class VirusTotalConfig(Configurable):
    """VirusTotal enrichment: sources, key and limits."""

    api_key = Unicode(
        "", help="VirusTotal API key (default: the VT_API_KEY environment variable)."
    ).tag(config=True)
    api_key_file = Unicode(
        "",
        help=(
            "A file holding the VirusTotal API key (used when api_key and VT_API_KEY are "
            "empty). Prefer this or VT_API_KEY to api_key: Jupyter logs config values "
            "at debug level."
        ),
    ).tag(config=True)
    reports_dir = Unicode(
        "", help="Offline reports: one VT v3 IP report JSON per address (default: in the store)."
    ).tag(config=True)
    host = Unicode(
        "https://www.virustotal.com", help="VirusTotal API base URL (tests point it elsewhere)."
    ).tag(config=True)
    requests_per_minute = Int(4, min=0, help="Live lookups per minute (public key: 4).").tag(
        config=True
    )
    requests_per_day = Int(500, min=0, help="Live lookups per day (public key: 500).").tag(
        config=True
    )
    lookup_non_global = Bool(
        False, help="Also look up private, reserved and other non-global addresses."
    ).tag(config=True)
    timeout = Float(30.0, min=0.1, help="Seconds to wait for one VirusTotal answer.").tag(
        config=True
    )

    @default("api_key")
    def _default_api_key(self) -> str:
        return os.environ.get("VT_API_KEY", "")

    def resolved_api_key(self) -> str:
        """The key from api_key, VT_API_KEY or api_key_file (never logged or shown).

        Surrounding whitespace is dropped. A key file must be a regular file of at most
        :data:`MAX_KEY_FILE_BYTES` (else :class:`InputError`, as when it cannot be read). A
        key with a line break inside is returned as is, so that it can still be hidden;
        :meth:`api_key_problem` refuses it.
        """
        return self._key_and_origin()[0]

    def api_key_problem(self) -> str | None:
        """Why the configured key cannot be used, in one sentence that never repeats it, or
        None: its file cannot be read, or a line break or control character inside it
        (it could not be sent in a request header)."""
        try:
            key, origin = self._key_and_origin()
        except InputError as exc:
            return exc.message
        if has_control_character(key):
            return f"The VirusTotal key from {origin} contains a line break or control character."
        if key and not _KEY_SHAPE.fullmatch(key):
            # a placeholder ("1", "test", "<your key>") would be sent, and hiding it in the
            # server's answers would rewrite every "1" in them
            return (
                f"The VirusTotal key from {origin} is not a VirusTotal API key (it should be "
                f"at least {MIN_KEY_LENGTH} letters, digits, '-' or '_'; VirusTotal's are 64 "
                "hexadecimal characters)."
            )
        return None

    def _key_and_origin(self) -> tuple[str, str]:
        """The stripped key and where it comes from, for messages ('' if none)."""
        if self.api_key:
            from_env = self.api_key == os.environ.get("VT_API_KEY")
            return self.api_key.strip(), "VT_API_KEY" if from_env else "VirusTotalConfig.api_key"
        if self.api_key_file:
            origin = f"the key file {self.api_key_file!r} (VirusTotalConfig.api_key_file)"
            return _read_key_file(self.api_key_file).strip(), origin
        return "", ""


def has_control_character(key: str) -> bool:
    """Whether ``key`` holds a control character or line break (not allowed in a header)."""
    return any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in key)


MIN_KEY_LENGTH = 16
_KEY_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{MIN_KEY_LENGTH},}}")

# a key is 64 characters: a few KB is plenty, and stops a wrong file from eating memory
MAX_KEY_FILE_BYTES = 4096


def _read_key_file(name: str) -> str:
    """The text of a key file: a regular file of at most MAX_KEY_FILE_BYTES, in UTF-8.

    Opened without blocking and checked on the open descriptor, so a FIFO, a device such
    as /dev/zero or a huge file is refused without being read.
    """
    what = f"The VirusTotal key file {name!r} (VirusTotalConfig.api_key_file)"
    try:
        fd = os.open(Path(name).expanduser(), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "bad path"
        raise InputError(f"{what} cannot be read ({reason}).") from None
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise InputError(f"{what} is not a regular file; it should hold the key.")
            raw = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{what} cannot be read ({exc.strerror or 'read error'}).") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise InputError(
            f"{what} is larger than {MAX_KEY_FILE_BYTES} bytes; it should hold only the key."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not text; it should hold the key on one line.") from None


CONFIG_CLASSES = (SuricataConfig, RulesConfig, StoreConfig, VirusTotalConfig)
C = TypeVar("C", bound=Configurable)


def configured(cls: type[C], config: Config) -> C:
    """``cls(config=config)``; a wrong value is an InputError naming the setting (a key's
    value is never repeated)."""
    try:
        return cls(config=config)
    except TraitError as exc:
        text = str(exc).splitlines()[0]
        match = re.search(r"'(\w+)' trait", text)
        trait = match.group(1) if match else "?"
        if "key" in trait:
            text = f"the {trait} setting has the wrong type (it must be text)."
        raise InputError(f"{cls.__name__}.{trait}: {text.rstrip('.')}.") from None


def load_config(extra: Config | None = None) -> Config:
    """Read ``jupyter_sauce_config.{py,json}`` from every Jupyter config dir (lowest first)."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import (
        ConfigFileNotFound,
        JSONFileConfigLoader,
        PyFileConfigLoader,
    )

    merged = Config()
    for directory in reversed(jupyter_config_path()):
        for loader_cls, name in (
            (JSONFileConfigLoader, "jupyter_sauce_config.json"),
            (PyFileConfigLoader, "jupyter_sauce_config.py"),
        ):
            try:
                merged.merge(loader_cls(name, path=directory).load_config())
            except ConfigFileNotFound:
                continue
            except Exception as exc:  # a broken file the user wrote: name it, not its text
                line = getattr(exc, "lineno", None)
                where = f" (line {line})" if line else ""
                raise InputError(
                    f"The config file {str(Path(directory) / name)!r} cannot be read: "
                    f"{type(exc).__name__}{where}."
                ) from None
    if extra is not None:
        merged.merge(extra)
    return merged
