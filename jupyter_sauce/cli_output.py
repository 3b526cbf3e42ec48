"""What ``jupyter sauce analyze`` and ``demo`` print: progress on stderr, then per capture
the alert groups and the IoC table (as a table, CSV sections or JSON), and ``--out`` files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from pathlib import Path

import pandas as pd

from .engine import Progress
from .errors import CredentialsError
from .iocs import alert_iocs, host_iocs
from .networks import RangeFilter
from .pipeline import Case, Sauce
from .report import alert_groups, folder_free_for, ioc_table, write_outputs, write_owner
from .virustotal import EnrichProgress

#: bidi overrides and marks: they reorder what a terminal shows
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def visible(text: str) -> str:
    """``text`` with control characters (terminal escapes, carriage returns, bidi
    overrides) written as escapes: capture names and report fields are not ours, and
    printed raw they could rewrite the terminal."""
    return "".join(ch.encode("unicode_escape").decode() if _hidden(ch) else ch for ch in str(text))


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI_CONTROLS


def _print_visible(text: str) -> None:
    """Print ``text`` line by line with :func:`visible`."""
    print("\n".join(visible(line) for line in str(text).split("\n")))


class ProgressPrinter:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds elsewhere."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.start = time.monotonic()
        self.open_line = False

    def close(self) -> None:
        """End a progress line that the last update left open (terminals only)."""
        if self.open_line:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open_line = False

    def __call__(self, p: Progress | EnrichProgress) -> None:
        now = time.monotonic()
        final = bool(p.total) and p.done >= p.total
        if not self.tty and now - self.last < 2 and not final:
            return
        self.last = now
        frac = f"{100 * min(1.0, p.done / p.total):5.1f}%" if p.total else "     "
        left = p.eta if isinstance(p, Progress) else p.eta_seconds
        eta = f", ETA {left:.0f} s" if left else ""
        line = visible(f"{self.label}: {p.message} {frac} ({now - self.start:.1f} s{eta})")
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            self.open_line = not final
            if final:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def out_dirs(out: Path, given: list[tuple[Path, str]]) -> list[Path]:
    """One folder per capture (path as given, sha256) under ``out``, named after it; a
    name another capture's results hold (in this call, or written by an earlier one, as
    its ``capture.json`` says) gets ``-2``, ``-3``... so no result overwrites another."""
    taken: dict[Path, str] = {}  # folder -> the sha256 of the capture it holds
    dirs = []
    for path, sha256 in given:
        stem = path.stem.strip(". ") or "capture"  # never '.' or '..' (outside ``out``)
        n = 1
        while True:
            folder = out / (stem if n == 1 else f"{stem}-{n}")
            if taken.get(folder) == sha256:  # the same capture given twice: one folder
                break
            if folder not in taken and folder_free_for(folder, sha256):
                break
            n += 1
        taken[folder] = sha256
        dirs.append(folder)
    return dirs


def emit(
    sauce: Sauce, cases: list[tuple[Path, Case]], flt: RangeFilter, args: argparse.Namespace
) -> None:
    out = sys.stdout
    docs = []
    folders = (
        out_dirs(Path(args.out), [(p, c.capture["sha256"]) for p, c in cases]) if args.out else []
    )
    rejected: CredentialsError | None = None
    for n, (given, case) in enumerate(cases):
        alerts = flt.apply(case.alerts)
        iocs = alert_iocs(alerts)
        if getattr(args, "hosts", False):
            iocs = host_iocs(flt.apply(case.flows))
        intel, vt_note = None, []
        if args.vt and len(iocs) and rejected is None:
            printer = ProgressPrinter("VirusTotal")
            try:
                intel = sauce.enrich(list(iocs["ip"]), progress=printer)
            except CredentialsError as exc:  # show the analysis all the same, then fail
                rejected = exc
            finally:
                printer.close()
        if rejected is not None and args.vt:
            vt_note = [f"{rejected.message} IoCs are shown without VirusTotal."]
        table = ioc_table(iocs, intel.frame if intel is not None else None)
        groups = alert_groups(alerts)
        notes = case.notices + case.warnings + (intel.notices if intel is not None else [])
        notes += vt_note
        if args.out:
            written = write_outputs(folders[n], alerts, flt.apply(case.flows), table)
            owner = {"capture": str(given), "sha256": case.capture["sha256"], "key": case.key}
            written.append(write_owner(folders[n], owner))
            print(
                visible(f"jupyter sauce: wrote {len(written)} files to {folders[n]}"),
                file=sys.stderr,
            )
        if args.format == "json":
            docs.append(
                {
                    "capture": str(given),
                    "sha256": case.capture["sha256"],
                    "format": {k: case.capture.get(k) for k in CAPTURE_FORMAT_FIELDS},
                    "key": case.key,
                    "engine": case.manifest["engine"]["name"],
                    "ruleset": case.ruleset,
                    "home_net": case.manifest["options"]["home_net"],
                    "filters": flt.to_dict(),
                    "counts": {"alerts": int(len(case.alerts)), "shown": int(len(alerts))},
                    "notes": notes,
                    "alert_groups": json.loads(
                        groups.to_json(orient="records", date_format="iso", date_unit="us")
                    ),
                    "iocs": json.loads(
                        table.to_json(orient="records", date_format="iso", date_unit="us")
                    ),
                }
            )
            continue
        if args.format == "csv":
            out.write(f"# alerts {given}\n")
            groups.to_csv(out, index=False)
            out.write(f"# iocs {given}\n")
            table.to_csv(out, index=False)
            continue
        _print_table(given, case, alerts, groups, table, flt, notes)
    if args.format == "json":
        json.dump(docs, out, indent=1, default=str)
        out.write("\n")
    if rejected is not None:
        raise rejected


CAPTURE_FORMAT_FIELDS = ("format", "byte_order", "resolution", "link_names", "packets")

TABLE_IOC_COLUMNS = (
    "ip",
    "ip_class",
    "alerts",
    "as_src",
    "as_dst",
    "flows",
    "packets",
    "bytes",
    "peers",
    "first_seen",
    "last_seen",
    "signatures",
    "malicious",
    "suspicious",
    "harmless",
    "as_owner",
    "country",
    "source",
    "error",
    "link",
)


def _terse(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps to the second and no <NA> noise, for a terminal table."""
    out = frame.copy()
    for col in out.columns:
        kind = str(out[col].dtype)
        if kind.startswith(("timestamp", "datetime64")):
            # Arrow's %S carries the fraction: cut it (JSON, CSV and --out keep it)
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S").str.slice(0, 19)
    return out.astype(object).where(out.notna(), "")


def _print_table(given, case, alerts, groups, table, flt, notes) -> None:
    m = case.manifest
    cap = case.capture
    packets = f"{cap['packets']} packet{'' if cap['packets'] == 1 else 's'}"
    links = "/".join(dict.fromkeys(cap.get("link_names") or [])) or "no link type"
    ticks = {"us": "microsecond", "ns": "nanosecond"}.get(cap["resolution"], cap["resolution"])
    form = f"{cap['format']}, {cap['byte_order']}-endian, {ticks} timestamps, {links}"
    _print_visible(f"== {visible(given.name)}  ({packets}, {form}, sha256 {cap['sha256'][:12]})")
    rs = case.ruleset
    date = f", {rs['date']}" if rs.get("date") else ""
    engine = {
        "warm": "warm engine: rules loaded once for every capture of this call",
        "cold": "one-off run",
        "none": "not run",
    }
    how = engine.get(m["engine"]["name"], m["engine"]["name"])
    if case.reused:
        how = f"stored result of {m['analysed_at']}, not run again; --rerun runs it"
    _print_visible(
        f"   Suricata {m['engine']['suricata']} ({how}), rules: "
        f"{rs['source']} {rs['location']} ({rs['rules']} rules{date}), HOME_NET: {case.home_net}"
    )
    if flt:
        _print_visible(
            f"   filters: {flt.describe()}  ({len(alerts)} of {len(case.alerts)} alerts shown)"
        )
    for note in notes:
        _print_visible(f"   note: {note}")
    with pd.option_context(
        "display.max_rows", 200, "display.max_colwidth", 60, "display.width", 250
    ):
        _print_visible(f"\nAlerts ({len(alerts)}), grouped by signature, source and destination:")
        _print_visible(_terse(groups).to_string(index=False) if len(groups) else "   (no alerts)")
        _print_visible(f"\nIoCs ({len(table)}):")
        shown = [c for c in TABLE_IOC_COLUMNS if c in table.columns]
        _print_visible(_terse(table[shown]).to_string(index=False) if len(table) else "   (none)")
    print()
