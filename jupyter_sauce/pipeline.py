"""The pipeline every front end uses: capture → Suricata → case store → frames.

``Sauce`` holds the configuration, the case store and the warm engine; ``Sauce.analyze``
returns a :class:`Case`. The CLI, the CaseWidget and the REST handlers are thin
adapters over these two classes.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq
from traitlets.config import Config

from . import eve, fastlog, rules
from .atomicfile import atomic_write_json
from .capture import CaptureInfo, inspect_capture
from .case import Case
from .config import RulesConfig, StoreConfig, SuricataConfig, VirusTotalConfig, configured
from .engine import Progress, ProgressCallback, RunOutput, find_suricata, run_cold, suricata_version
from .errors import CaptureError, EngineError, RangeError, SauceError
from .frames import ALERT_SCHEMA, FLOW_SCHEMA, empty_frame, frame_to_table
from .networks import parse_ranges
from .store import CaseStore, SharedStore, entry_key
from .userpaths import expand_user
from .warm_slot import WarmSlot

if TYPE_CHECKING:  # vt-py is imported only when VirusTotal is used
    from .virustotal import Enricher, EnrichProgress, EnrichResult


#: HOME_NET ranges accepted: 60,000 kept Suricata loading 4 rules for minutes
MAX_HOME_NET = 2000


def _touches(flows: pd.DataFrame, nets: list[str]) -> bool:
    """Whether any flow endpoint is inside HOME_NET."""
    home = parse_ranges(",".join(nets))
    ips = pd.concat([flows["src_ip"], flows["dest_ip"]]).dropna().unique()
    return bool(home.contains_many(list(ips)).any())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Sauce:
    """The pipeline facade. Thread-safe for analyses; one warm engine at a time."""

    def __init__(self, config: Config | None = None) -> None:
        config = config if config is not None else Config()
        self.suricata_config = configured(SuricataConfig, config)
        self.rules_config = configured(RulesConfig, config)
        self.store_config = configured(StoreConfig, config)
        self.vt_config = configured(VirusTotalConfig, config)
        self.store = CaseStore(self.store_config.store_dir)
        self.shared_stores = [SharedStore(d) for d in self.store_config.shared_store_dirs]
        self.warm_slot = WarmSlot()
        self._enricher = None
        #: sentences about the set-up for front ends to show (e.g. a shared store not used)
        self.notes = [store.problem for store in self.shared_stores if store.problem]
        self._inspected: dict[tuple, CaptureInfo] = {}  # (path, inode, size, mtime) -> info

    # --- inputs -----------------------------------------------------------------------
    def ruleset(self, spec: str | None = None) -> rules.Ruleset:
        return rules.resolve(
            self.rules_config.rules if spec is None else spec,
            bad_ips=list(self.rules_config.bad_ips),
            data_dir=self.rules_config.data_dir,
            cache=self.store.rulesets_dir,
        )

    def home_net(self, text: str | None = None) -> list[str]:
        try:
            ranges = parse_ranges(self.suricata_config.home_net if text is None else text)
        except RangeError as exc:
            raise RangeError(f"HOME_NET: {exc.message}") from None
        cidrs = [str(net) for net in ranges.networks]
        if not cidrs:
            raise RangeError("HOME_NET is empty; give at least one address or CIDR range.")
        if len(cidrs) > MAX_HOME_NET:
            raise RangeError(
                f"HOME_NET has {len(cidrs):,} ranges; at most {MAX_HOME_NET:,} are accepted "
                "(Suricata loads its rules far slower with more): give wider ranges."
            )
        starts, ends = ranges._v4
        if len(starts) == 1 and starts[0] == 0 and ends[0] == 2**32 - 1:
            # EXTERNAL_NET is !$HOME_NET: Suricata refuses an empty IPv4 outside
            raise RangeError(
                "HOME_NET covers every IPv4 address, which leaves no EXTERNAL_NET for "
                "Suricata; name your own networks instead."
            )
        return cidrs

    def inspect(self, capture: str | os.PathLike) -> CaptureInfo:
        """Identify, check and hash a capture (CaptureError if it is not one to analyse);
        a file unchanged since this Sauce last looked is not read again."""
        try:
            st = os.stat(capture)
            seen = (str(Path(capture).absolute()), st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            seen = None  # inspect_capture says what is wrong
        info = self._inspected.get(seen) if seen else None
        if info is None:
            info = inspect_capture(capture)
        limit = self.suricata_config.max_capture_size
        if limit and info.size > limit:
            raise CaptureError(
                f"{info.name!r} is {info.size} bytes, over the configured limit of {limit} bytes."
            )
        self.store.remember_sha256(Path(capture), info.sha256)
        if seen is not None:
            if len(self._inspected) >= 256:
                self._inspected.clear()
            self._inspected[seen] = info
        return info

    def _key(self, sha256: str, ruleset: rules.Ruleset, home_net: list[str]) -> str:
        binary = find_suricata(self.suricata_config.suricata_path)
        return entry_key(
            sha256, suricata_version(binary), ruleset.fingerprint, {"home_net": home_net}
        )

    # --- the work ---------------------------------------------------------------------
    def open(
        self, capture: str | os.PathLike, *, rules: str | None = None, home_net: str | None = None
    ) -> Case | None:
        """The stored result for this capture and settings, or None (never runs Suricata)."""
        path = Path(capture)
        sha = self.store.known_sha256(path) or self.inspect(path).sha256
        key = self._key(sha, self.ruleset(rules), self.home_net(home_net))
        store = self._holder(key)
        return self.load(key, store) if store is not None else None

    def stored(self, key: str) -> bool:
        """Whether the user's store or a shared one holds a complete entry for ``key``."""
        return self._holder(key) is not None

    def _holder(self, key: str) -> CaseStore | None:
        """The store holding a complete entry for ``key``: the user's own, then shared ones."""
        for store in (self.store, *self.shared_stores):
            if store.has(key):
                return store
        return None

    def _reused(self, key: str, store: CaseStore | None = None) -> Case:
        case = self.load(key, store)
        case.reused = True
        return case

    def load(self, key: str, store: CaseStore | None = None) -> Case:
        store = store or self._holder(key) or self.store
        return Case(key, store.entry_dir(key), store.manifest(key))

    def is_analysed(self, capture: str | os.PathLike) -> bool:
        """Whether any stored entry exists for this capture's content (cheap when hashed before)."""
        sha = self.store.known_sha256(Path(capture))
        return sha is not None and any(
            s.has_capture(sha) for s in (self.store, *self.shared_stores)
        )

    def analyze(
        self,
        capture: str | os.PathLike,
        *,
        rules: str | None = None,
        home_net: str | None = None,
        rerun: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Case:
        """Analyse a capture (or reuse the stored result) and return the Case."""
        t0 = time.monotonic()
        path = expand_user(capture).absolute()
        if progress:
            progress(Progress("inspect", 0, 0, "Reading the capture"))
        info = self.inspect(path)
        ruleset = self.ruleset(rules)
        nets = self.home_net(home_net)
        key = self._key(info.sha256, ruleset, nets)
        holder = None if rerun else self._holder(key)
        if holder is not None:
            return self._opened(self._reused(key, holder), progress, t0)
        with self.store.lock(key, cancel, progress):
            if not rerun and self.store.has(key):  # another process made it meanwhile
                return self._opened(self._reused(key), progress, t0)
            with self.store.building(key) as work:
                manifest = self._run(path, info, ruleset, nets, work, progress, cancel)
                manifest["timings"]["total_s"] = round(time.monotonic() - t0, 3)
                atomic_write_json(work / "manifest.json", manifest)
            self.store.mark_capture(info.sha256)
        return self.load(key)

    @staticmethod
    def _opened(case: Case, progress: ProgressCallback | None, t0: float) -> Case:
        """A stored result, said as the last progress step (not "Reading the capture")."""
        if progress:
            elapsed = time.monotonic() - t0
            progress(Progress("stored", 1, 1, "Opened the stored result", elapsed))
        return case

    def _run(
        self,
        path: Path,
        info: CaptureInfo,
        ruleset: rules.Ruleset,
        nets: list[str],
        work: Path,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> dict:
        binary = find_suricata(self.suricata_config.suricata_path)
        warnings = list(info.warnings)
        notices: list[str] = []
        timings: dict[str, float] = {}
        run: RunOutput | None = None
        if info.packets == 0 and not info.warnings:
            notices.append(
                f"The capture {info.name!r} holds no packets; there is nothing to analyse."
            )
            alerts, flows = empty_frame(ALERT_SCHEMA), empty_frame(FLOW_SCHEMA)
            engine_name, load = "none", rules.LoadReport()
        else:
            run = self._suricata(binary, path, info, ruleset, nets, work, progress, cancel, notices)
            engine_name, load = run.engine, run.load
            timings["suricata_s"] = round(run.seconds, 3)
            warnings += run.warnings
            t1 = time.monotonic()
            parsed = eve.parse_file(run.eve_path)
            fast = fastlog.parse_file(run.fast_path)
            timings["parse_s"] = round(time.monotonic() - t1, 3)
            alerts, flows = parsed.alerts, parsed.flows
            for name, rep in (("eve.json", parsed.report), ("fast.log", fast.report)):
                if rep.problems:
                    first = rep.problems[0]
                    warnings.append(
                        f"{rep.bad_lines} line(s) of {name} could not be parsed "
                        f"(first: line {first.line_no}, {first.reason})."
                    )
            if len(fast.alerts) != len(alerts):
                warnings.append(
                    f"fast.log has {len(fast.alerts)} alerts but eve.json has {len(alerts)}."
                )
            if alerts.empty and not parsed.report.problems:  # else: it may have, unread
                notices.append("Suricata raised no alerts on this capture with this ruleset.")
                if len(flows) and not _touches(flows, nets):
                    notices.append(
                        f"No address in the capture is inside HOME_NET ({', '.join(nets)}); "
                        "most rules only fire on traffic to or from HOME_NET."
                    )
        failed = max(load.failed or 0, len(load.failed_rules))
        if failed and not load.loaded and engine_name != "none":
            first = load.failed_rules[0] if load.failed_rules else "see suricata.log"
            warnings.append(
                f"None of the {ruleset.rule_count} rule(s) of the ruleset loaded (first: "
                f"{first[:200]}); Suricata analysed with no rules, so no alert can appear."
            )
        elif failed:
            first = load.failed_rules[0][:200] if load.failed_rules else "see suricata.log"
            more = "; the manifest lists them all" if failed > 1 else ""
            warnings.append(f"{failed} rule(s) failed to load (first: {first}){more}.")
        pq.write_table(frame_to_table(alerts, ALERT_SCHEMA), work / "alerts.parquet")
        pq.write_table(frame_to_table(flows, FLOW_SCHEMA), work / "flows.parquet")
        return {
            "capture": info.to_dict(),
            "analysed_at": _now(),
            "engine": {
                "name": engine_name,
                "suricata": suricata_version(binary),
                "binary": binary,
                "runmode": self.suricata_config.runmode,
                "host": platform.node(),
            },
            "ruleset": {**ruleset.label, "load": load.to_dict()},
            "options": {"home_net": nets},
            "counts": {
                "alerts": int(len(alerts)),
                "flows": int(len(flows)),
                "signatures": int(alerts["signature_id"].nunique()) if len(alerts) else 0,
            },
            "timings": timings,
            "warnings": warnings,
            "notices": notices,
        }

    def _suricata(
        self, binary, path, info, ruleset, nets, work, progress, cancel, notices
    ) -> RunOutput:
        cfg = self.suricata_config
        if cfg.warm:
            try:
                with self.warm_slot.hold(
                    binary, ruleset, nets, cfg.runmode, progress, cancel
                ) as engine:
                    if engine is not None:
                        return engine.analyze(
                            path, info.size, work, progress=progress, cancel=cancel,
                            timeout=cfg.timeout,
                        )  # fmt: skip
                notices.append(
                    "The warm engine was busy with other rules or HOME_NET; Suricata ran cold."
                )
            except EngineError as exc:
                notices.append(
                    f"The warm engine failed ({exc.message}); Suricata ran cold instead."
                )
                for item in work.iterdir():
                    item.unlink()
        return run_cold(
            binary,
            path,
            info.size,
            ruleset,
            nets,
            work,
            runmode=cfg.runmode,
            progress=progress,
            cancel=cancel,
            timeout=cfg.timeout,
        )

    def engine_state(self) -> dict:
        """Whether a warm engine runs, and for which settings."""
        state = self.warm_slot.state()
        if state is None:
            return {"warm": False, "enabled": self.suricata_config.warm}
        return {"warm": True, "enabled": True, **state}

    def stop_engine(self) -> None:
        """Stop the warm engine (the next analysis starts one again)."""
        self.warm_slot.stop()

    # --- VirusTotal -------------------------------------------------------------------
    @property
    def enricher(self) -> Enricher:
        """The VirusTotal enricher (made on first use: vt-py is imported only then)."""
        if self._enricher is None:
            from .virustotal import Enricher

            self._enricher = Enricher(self.vt_config, self.store.root / "virustotal")
        return self._enricher

    def enrich(
        self,
        ips: Iterable[str],
        progress: Callable[[EnrichProgress], object] | None = None,
        cancel: threading.Event | None = None,
    ) -> EnrichResult:
        """VirusTotal enrichment of ``ips`` (see :meth:`Enricher.enrich`)."""
        return self.enricher.enrich(ips, progress=progress, cancel=cancel)

    def close(self) -> None:
        self.stop_engine()
        if self._enricher is not None:
            self._enricher.close()
            self._enricher = None

    def __enter__(self) -> Sauce:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Case", "Sauce", "SauceError"]
