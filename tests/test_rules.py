"""Rulesets: fingerprints follow the content, the store key follows every input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jupyter_sauce import rules
from jupyter_sauce.store import entry_key

NMAP = b'alert http any any -> any any (msg:"nmap"; content:"Nmap"; sid:9100010; rev:1;)\n'
OTHER = b'alert http any any -> any any (msg:"nmop"; content:"Nmop"; sid:9100010; rev:1;)\n'


def _dir(tmp_path: Path, data: bytes = NMAP) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "local.rules").write_bytes(data)
    (folder / "classification.config").write_text("config classification: misc,Misc,3\n")
    return folder


def test_fingerprint_follows_the_rule_text_and_classification(tmp_path: Path) -> None:
    folder, cache = _dir(tmp_path), tmp_path / "cache"
    first = rules.from_path(folder, cache)
    assert rules.from_path(folder, cache).fingerprint == first.fingerprint
    (folder / "local.rules").write_bytes(OTHER)  # same size, at once: a coarse clock
    edited = rules.from_path(folder, cache)
    assert edited.fingerprint != first.fingerprint
    assert b'msg:"nmop"' in edited.rule_file.read_bytes()
    (folder / "classification.config").write_text("config classification: misc,Misc,2\n")
    assert rules.from_path(folder, cache).fingerprint not in (first.fingerprint, edited.fingerprint)
    (folder / "more.rules").write_bytes(NMAP.replace(b"9100010", b"9100011"))
    grown = rules.from_path(folder, cache)
    assert grown.rule_count == 2 and grown.segments[1] == (2, "more.rules")


def test_a_damaged_cached_copy_is_written_again(tmp_path: Path, monkeypatch) -> None:
    """The cached copy Suricata loads was trusted because it existed: a truncated or
    edited copy made Suricata load other rules than the fingerprint names."""
    folder, cache = _dir(tmp_path), tmp_path / "cache"
    first = rules.from_path(folder, cache)
    first.rule_file.write_bytes(OTHER)  # same size, other rule
    first.classification_file.write_text("")
    monkeypatch.setattr(rules, "_BUILT", {})  # as in a new process
    again = rules.from_path(folder, cache)
    assert again.fingerprint == first.fingerprint and again.rule_file == first.rule_file
    assert again.rule_file.read_bytes() == NMAP
    assert again.classification_file.read_text() == "config classification: misc,Misc,3\n"


def test_settled_rules_are_not_read_again(tmp_path: Path, monkeypatch) -> None:
    """Reopening an analysed capture resolves the ruleset each time: ET Open's 19,810
    rules were read and hashed again on every open (0.15 s of a 0.3 s reopen)."""
    folder, cache = _dir(tmp_path), tmp_path / "cache"
    old = time.time() - 60
    for f in folder.iterdir():
        os.utime(f, (old, old))
    first = rules.from_path(folder, cache)
    reads = []
    monkeypatch.setattr(rules, "_read", lambda p: reads.append(p) or p.read_bytes())
    again = rules.from_path(folder, cache)
    assert reads == [] and again.fingerprint == first.fingerprint and again is not first
    again.source = "installed"  # a copy: changing it leaves the remembered one alone
    assert rules.from_path(folder, cache).source == "directory"
    (folder / "local.rules").write_bytes(OTHER)
    os.utime(folder / "local.rules", (old, old + 1))
    assert rules.from_path(folder, cache).fingerprint != first.fingerprint
    assert len(reads) == 2  # the rules file and classification.config, read again


def test_bad_ips_are_in_the_starter_rules_and_their_fingerprint(tmp_path: Path) -> None:
    default = rules.starter(["203.78.103.109"], tmp_path)
    other = rules.starter(["198.51.100.7", "2001:db8::1"], tmp_path)
    assert other.fingerprint != default.fingerprint
    text = other.rule_file.read_text()
    assert "198.51.100.7" in text and "2001:db8::1" in text and "203.78.103.109" not in text


@pytest.mark.parametrize(
    "change",
    [
        {"capture": "b" * 64},
        {"version": "7.0.11"},
        {"rules": "f" * 64},
        {"options": {"home_net": ["10.42.0.0/16"]}},
    ],  # fmt: skip
    ids=["capture", "suricata-version", "ruleset", "home-net"],
)
def test_store_key_changes_with_every_input(change: dict) -> None:
    base = {"capture": "a" * 64, "version": "7.0.10", "rules": "e" * 64,
            "options": {"home_net": ["10.0.0.0/8"]}}  # fmt: skip
    args = lambda d: (d["capture"], d["version"], d["rules"], d["options"])  # noqa: E731
    assert entry_key(*args(base)) == entry_key(*args(dict(base)))
    assert entry_key(*args({**base, **change})) != entry_key(*args(base))
