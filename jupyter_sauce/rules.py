"""Rulesets: rule files + classification.config, with a content fingerprint and a label.

Sources: a directory or files the user names, what suricata-update installed, and the
project's own starter ruleset (so the demo alerts with no internet).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .atomicfile import atomic_write_bytes
from .errors import EngineError, RulesError
from .userpaths import expand_user

SYSTEM_CLASSIFICATION = Path("/etc/suricata/classification.config")
SYSTEM_REFERENCE = Path("/etc/suricata/reference.config")
SURICATA_UPDATE_DEFAULT = Path("/var/lib/suricata/rules/suricata.rules")
_RULE_LINE = re.compile(rb"^\s*(alert|drop|pass|reject|rejectsrc|rejectdst|rejectboth)\s", re.M)
_UPDATED = re.compile(rb"updated_at (\d{4})_(\d{2})_(\d{2})")
_ET_SID = re.compile(rb"^\s*alert\s.*\bsid:\s*2[01]\d{5}\s*;", re.M)  # ET Open and GPL sids
_SUMMARY = re.compile(r"(\d+) rules successfully loaded, (\d+) rules failed")
_BAD_SIG = re.compile(r'error parsing signature "(.*)" from file (.*) at line (\d+)')


@dataclass
class Ruleset:
    """A ruleset ready for Suricata: one combined rules file and its classification.config."""

    source: str  # "starter" | "directory" | "file" | "installed"
    location: str
    rule_file: Path
    classification_file: Path
    fingerprint: str
    rule_count: int
    date: str | None
    #: (first line in rule_file, original file name) of each file combined into rule_file
    segments: list[tuple[int, str]] = field(default_factory=list)

    def origin(self, line: int) -> tuple[str, int]:
        """The original file and line of ``line`` of the combined rule file."""
        name, start = self.rule_file.name, 1
        for first, original in self.segments:
            if first > line:
                break
            name, start = original, first
        return name, line - start + 1

    @property
    def label(self) -> dict:
        return {
            "source": self.source,
            "location": self.location,
            "date": self.date,
            "rules": self.rule_count,
            "fingerprint": self.fingerprint[:16],
        }

    def describe(self) -> str:
        when = f", {self.date}" if self.date else ""
        return f"{self.source} ({self.location}{when}, {self.rule_count} rules)"


@dataclass
class LoadReport:
    """What Suricata said about loading a ruleset."""

    loaded: int | None = None
    failed: int | None = None
    failed_rules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"loaded": self.loaded, "failed": self.failed, "failed_rules": self.failed_rules}


def parse_load_report(log_text: str, ruleset: Ruleset | None = None) -> LoadReport:
    """Rule-load counts and the rules that failed, from suricata.log text.

    With ``ruleset``, a failed rule is named by the file and line the user wrote it in
    (not the combined file Suricata read).
    """
    report = LoadReport()
    for line in log_text.splitlines():
        if m := _SUMMARY.search(line):
            report.loaded, report.failed = int(m.group(1)), int(m.group(2))
        elif m := _BAD_SIG.search(line):
            name, line_no = Path(m.group(2)).name, int(m.group(3))
            if ruleset is not None and name == ruleset.rule_file.name:
                name, line_no = ruleset.origin(line_no)
            report.failed_rules.append(f"{name} line {line_no}: {m.group(1)[:300]}")
    return report


def _newest_date(data: bytes) -> str | None:
    dates = _UPDATED.findall(data)
    if not dates:
        return None
    y, m, d = max(dates)
    return f"{y.decode()}-{m.decode()}-{d.decode()}"


def _build(
    source: str, location: str, files: list[tuple[str, bytes]], classification: bytes, cache: Path
) -> Ruleset:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    digest.update(b"classification\0" + hashlib.sha256(classification).digest())
    fp = digest.hexdigest()
    parts = [data.rstrip(b"\n") for _, data in files]
    combined = b"\n".join(parts) + b"\n"
    segments, first = [], 1
    for (name, _), part in zip(files, parts, strict=True):
        segments.append((first, Path(name).name))
        first += part.count(b"\n") + 1
    target = cache / fp[:24]
    rule_file, cls_file = target / "rules.rules", target / "classification.config"
    # the cache is only trusted when it holds these very bytes (a damaged or edited copy
    # would make Suricata load other rules than the fingerprint names)
    if not _holds(cls_file, classification):
        atomic_write_bytes(cls_file, classification)
    if not _holds(rule_file, combined):
        atomic_write_bytes(rule_file, combined)
    return Ruleset(
        source=source,
        location=location,
        rule_file=rule_file,
        classification_file=cls_file,
        fingerprint=fp,
        rule_count=len(_RULE_LINE.findall(combined)),
        date=_newest_date(combined),
        segments=segments,
    )


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file holding exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _read(path: Path) -> bytes:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device would block or never end
            raise RulesError(f"Rules file {str(path)!r} is not a regular file.")
        return path.read_bytes()
    except OSError as exc:
        raise RulesError(
            f"Rules file {str(path)!r} cannot be read: {exc.strerror or exc}."
        ) from exc


def _default_classification() -> bytes:
    if SYSTEM_CLASSIFICATION.is_file():
        return SYSTEM_CLASSIFICATION.read_bytes()
    from .starter_rules import STARTER_CLASSIFICATION

    return STARTER_CLASSIFICATION.encode()


def from_path(path: str | os.PathLike, cache: Path) -> Ruleset:
    """A ruleset from a directory of .rules files (and its classification.config) or one file."""
    p = expand_user(path)
    if not p.exists():
        raise RulesError(f"Rules path {str(p)!r} does not exist.")
    if p.is_dir():
        rule_paths = sorted(p.glob("*.rules"))
        if not rule_paths:
            raise RulesError(f"Rules directory {str(p)!r} holds no .rules files.")
        cls_path = p / "classification.config"
        source = "directory"
    else:
        if p.suffix != ".rules":
            raise RulesError(f"Rules file {str(p)!r} should be a .rules file or a directory.")
        rule_paths, cls_path, source = [p], p.parent / "classification.config", "file"
    stamp = (str(p.resolve()), str(cache), *(_stamp(f) for f in [*rule_paths, cls_path]))
    known = _BUILT.get(stamp)
    if known is not None and known.rule_file.is_file() and known.classification_file.is_file():
        return dataclasses.replace(known)  # unchanged files: no need to read and hash again
    files = [(rp.name, _read(rp)) for rp in rule_paths]
    if not any(_RULE_LINE.search(data) for _, data in files):
        raise RulesError(f"Rules path {str(p)!r} contains no rules.")
    cls = _read(cls_path) if cls_path.is_file() else _default_classification()
    built = _build(source, str(p.resolve()), files, cls, cache)
    # a file changed in the last seconds could change again with the same stamp (file times
    # are coarse): remember only settled files, as git does with "racily clean" entries
    settled = time.time_ns() - 2_000_000_000
    if all(st is None or st[3] < settled for st in stamp[2:]):
        if len(_BUILT) >= 32:
            _BUILT.clear()
        _BUILT[stamp] = built
    return dataclasses.replace(built)


#: rulesets built from files in this process, by the files' identity and change stamps
_BUILT: dict[tuple, Ruleset] = {}


def _stamp(path: Path) -> tuple | None:
    """What changes when a file is edited, replaced or removed (None: not there)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def starter(bad_ips: list[str], cache: Path) -> Ruleset:
    """The project's own small ruleset (Nmap, .exe over HTTP, RDP brute force, bad TLS peers)."""
    from .starter_rules import STARTER_CLASSIFICATION, render_starter_rules

    text = render_starter_rules(list(bad_ips)).encode()
    return _build(
        "starter",
        "jupyter_sauce starter rules",
        [("starter.rules", text)],
        STARTER_CLASSIFICATION.encode(),
        cache,
    )


def installed_rules_file(data_dir: str) -> Path | None:
    """The suricata-update output this project or the system installed, if it holds rules."""
    for candidate in (Path(data_dir) / "rules" / "suricata.rules", SURICATA_UPDATE_DEFAULT):
        try:
            if candidate.is_file() and _RULE_LINE.search(candidate.read_bytes()):
                return candidate
        except OSError as exc:  # say so rather than quietly analysing with other rules
            raise RulesError(
                f"The installed rules {str(candidate)!r} cannot be read: {exc.strerror or exc}."
            ) from exc
    return None


def resolve(spec: str, *, bad_ips: list[str], data_dir: str, cache: Path) -> Ruleset:
    """Turn a rules setting ('', 'starter', 'installed' or a path) into a Ruleset."""
    spec = (spec or "").strip()
    if spec == "starter":
        return starter(bad_ips, cache)
    if spec in ("", "installed"):
        found = installed_rules_file(data_dir)
        if found is not None:
            rs = from_path(found, cache)
            rs.source = "installed"
            return rs
        if spec == "installed":
            raise RulesError(
                "No installed rules were found: run 'jupyter sauce rules update' first."
            )
        return starter(bad_ips, cache)
    return from_path(spec, cache)


_SID = re.compile(rb"^\s*(?:alert|drop|pass|reject\w*)\s.*?\bsid:\s*(\d+)\s*;", re.M)


def _local_sids(path: Path) -> set[bytes]:
    """The sids of the rules in a local rules file or directory (checked before running)."""
    if not path.exists():
        raise RulesError(f"Rules path {str(path)!r} does not exist.")
    files = sorted(path.glob("*.rules")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise RulesError(f"Rules directory {str(path)!r} holds no .rules files.")
    sids: set[bytes] = set()
    for file in files:
        sids.update(_SID.findall(_read(file)))
    if not sids:
        raise RulesError(f"Rules path {str(path)!r} contains no rules.")
    return sids


def update_rules(data_dir: str, local: str | None = None, suricata: str = "suricata") -> dict:
    """Run suricata-update (ET Open, or only ``local`` rules offline) and check what it produced.

    suricata-update writes into a fresh folder; only a result that passes the checks
    replaces the installed ``rules/suricata.rules`` (atomically), so a failed or empty
    update leaves the rules analyses use as they were.
    """
    exe = shutil.which("suricata-update")
    if exe is None:
        raise EngineError(
            "suricata-update is not installed; it comes with Suricata 7 (see the README)."
        )
    from .engine import find_suricata

    binary = find_suricata(suricata)
    local_sids = _local_sids(Path(local)) if local else set()
    out_dir = Path(data_dir)
    target = out_dir / "rules" / "suricata.rules"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".update-", dir=target.parent))
    except OSError as exc:
        raise RulesError(
            f"The rules folder {str(target.parent)!r} cannot be written: {exc.strerror or exc}."
        ) from exc
    try:
        result = _run_update(exe, binary, out_dir, work, local, local_sids)
        old = target.read_bytes() if target.is_file() else None
        data = (work / "suricata.rules").read_bytes()
        os.replace(work / "suricata.rules", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**result, "rules_file": str(target), "changed": old != data}


def _run_update(
    exe: str, binary: str, data_dir: Path, output: Path, local: str | None, local_sids: set
) -> dict:
    """suricata-update into ``output``; RulesError/EngineError unless it holds what was asked."""
    args = [exe, "--data-dir", str(data_dir), "--output", str(output), "--no-test",
            "--no-reload", "--suricata", binary]  # fmt: skip
    if local:
        args += ["--local", str(Path(local).resolve()), "--url", "file:///dev/null"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
    if proc.returncode != 0:
        raise EngineError(f"suricata-update failed with exit code {proc.returncode}.", tail)
    produced = output / "suricata.rules"
    data = produced.read_bytes() if produced.is_file() else b""
    count = len(_RULE_LINE.findall(data))
    et_count = len(_ET_SID.findall(data))
    if not local and et_count == 0:
        raise EngineError(
            "suricata-update fetched no ET Open rules (no internet?); nothing was installed "
            "and analyses keep the rules they had.",
            tail,
        )
    if count == 0:
        raise RulesError("suricata-update produced no rules; nothing was installed.", tail)
    missing = sorted(local_sids - set(_SID.findall(data)))
    if missing:
        raise RulesError(
            f"{len(missing)} of the {len(local_sids)} rules in {local!r} are not in "
            f"suricata-update's output (first: sid {missing[0].decode()}); nothing was "
            "installed, see its log below.",
            tail,
        )
    return {"rules": count, "local_rules": len(local_sids), "et_open_rules": et_count, "log": tail}
