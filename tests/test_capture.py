"""Capture inspection: formats, byte orders, resolutions, link types, and what is not a capture."""

from __future__ import annotations

import dataclasses
import gzip
import os
import zipfile
from pathlib import Path

import pytest
from captures import http_records, pcap_bytes, pcapng_bytes, write
from unprivileged import as_nobody, open_box

from jupyter_sauce.capture import inspect_capture
from jupyter_sauce.errors import CaptureError

RECORDS = http_records()


@pytest.mark.parametrize(
    ("order", "nanos", "byte_order", "resolution"),
    [
        ("<", False, "little", "us"),
        (">", False, "big", "us"),
        ("<", True, "little", "ns"),
        (">", True, "big", "ns"),
    ],
)
def test_pcap_variants(tmp_path: Path, order, nanos, byte_order, resolution) -> None:
    path = write(tmp_path / "x.pcap", pcap_bytes(RECORDS, order, nanos))
    info = inspect_capture(path)
    assert (info.format, info.byte_order, info.resolution) == ("pcap", byte_order, resolution)
    assert info.packets == len(RECORDS)
    assert info.link_types == [1] and info.link_names == ["Ethernet"]
    assert info.first_ts == pytest.approx(1_600_481_970.0)
    assert info.warnings == []


@pytest.mark.parametrize(("order", "byte_order"), [("<", "little"), (">", "big")])
def test_pcapng(tmp_path: Path, order, byte_order) -> None:
    info = inspect_capture(write(tmp_path / "x.pcapng", pcapng_bytes(RECORDS, order)))
    assert (info.format, info.byte_order, info.packets) == ("pcapng", byte_order, len(RECORDS))
    assert info.first_ts == pytest.approx(1_600_481_970.0)


def test_same_content_same_hash(tmp_path: Path) -> None:
    a = inspect_capture(write(tmp_path / "a.pcap", pcap_bytes(RECORDS)))
    b = inspect_capture(write(tmp_path / "renamed copy.pcap", pcap_bytes(RECORDS)))
    c = inspect_capture(write(tmp_path / "c.pcap", pcap_bytes(RECORDS[:-1])))
    assert a.sha256 == b.sha256 != c.sha256


def test_unsupported_link_type(tmp_path: Path) -> None:
    path = write(tmp_path / "wifi.pcap", pcap_bytes(RECORDS, linktype=127))
    with pytest.raises(CaptureError, match=r"link type 127 \(IEEE 802.11 radiotap\)"):
        inspect_capture(path)


def test_mixed_link_types_are_named(tmp_path: Path) -> None:
    """Suricata said only "failed to get first packet timestamp"."""
    path = write(tmp_path / "multi.pcapng", pcapng_bytes(RECORDS, linktypes=(1, 101)))
    with pytest.raises(CaptureError) as info:
        inspect_capture(path)
    assert info.value.message == (
        "'multi.pcapng' mixes interfaces of link types Ethernet, raw IP; Suricata reads one "
        "link type per capture file (split it, e.g. with editcap)."
    )


def test_a_packet_on_an_undescribed_interface_is_where_the_capture_ends(tmp_path: Path) -> None:
    """It was counted as a packet and the run reported as whole; Suricata stops there."""
    good = pcapng_bytes(RECORDS)
    bad = pcapng_bytes(RECORDS[:1], iface=5)[len(pcapng_bytes([])) :]  # one packet block
    info = inspect_capture(write(tmp_path / "x.pcapng", good + bad + good[len(pcapng_bytes([])) :]))
    assert info.packets == len(RECORDS)
    assert info.warnings == [
        f"The capture is corrupt after {len(RECORDS)} packets: the packet at byte {len(good)} "
        "names interface 5, which the capture does not describe; Suricata reads only what "
        "comes before it."
    ]


def test_packet_times_past_the_year_9999_are_a_warning(tmp_path: Path) -> None:
    """Suricata writes them as 5-digit years; the alerts on them cannot be read."""
    late = [dataclasses.replace(r, ts_us=10**12 * 10**6 + i) for i, r in enumerate(RECORDS)]
    info = inspect_capture(write(tmp_path / "late.pcapng", pcapng_bytes(late)))
    assert info.packets == len(RECORDS) and info.first_ts == pytest.approx(1e12)
    assert info.warnings == [
        "Packet times in the capture lie after the year 9999 (a damaged capture or a wrong "
        "time resolution); alerts on those packets cannot be read."
    ]


def test_truncated_capture_warns(tmp_path: Path) -> None:
    data = pcap_bytes(RECORDS)
    info = inspect_capture(write(tmp_path / "cut.pcap", data[:-10]))
    assert info.packets == len(RECORDS) - 1
    assert "truncated" in info.warnings[0]


@pytest.mark.parametrize(
    ("name", "data", "looks"),
    [
        ("notes.pcap", b"just some notes\nabout a case\n", "a text file"),
        ("empty.pcap", b"", "an empty file (0 bytes)"),
        ("x.pcap", b'{"event_type": "alert"}\n', "a JSON text file"),
        ("x.pcap", gzip.compress(b"abc"), "a gzip-compressed file"),
        ("x.pcapng", b"MZ\x90\x00" + bytes(60), "a Windows executable"),
    ],
)
def test_not_a_capture(tmp_path: Path, name, data, looks) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(CaptureError) as err:
        inspect_capture(path)
    assert f"{name!r} is not a pcap or pcapng capture; it looks like {looks}" in err.value.message


def test_zip_named_pcap(tmp_path: Path) -> None:
    path = tmp_path / "case.pcap"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("case.pcap", pcap_bytes(RECORDS))
    with pytest.raises(CaptureError, match="looks like a zip archive"):
        inspect_capture(path)


def test_header_cut_short(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cut short inside its 24-byte header"):
        inspect_capture(write(tmp_path / "x.pcap", pcap_bytes([])[:20]))


def test_directory_and_missing(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="is a directory"):
        inspect_capture(tmp_path)
    with pytest.raises(CaptureError, match="does not exist"):
        inspect_capture(tmp_path / "nope.pcap")


def _unreadable_capture(folder: Path) -> Path:
    """A real capture with mode 000 in a folder anyone may enter."""
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = write(folder / "secret.pcap", pcap_bytes(RECORDS))
    path.chmod(0)
    return path


PROBE = """import sys
from jupyter_sauce.capture import inspect_capture
from jupyter_sauce.errors import CaptureError
try:
    inspect_capture(sys.argv[1])
except CaptureError as exc:
    print(exc.message)
    sys.exit(3)
"""


def test_unreadable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        path = _unreadable_capture(tmp_path / "box")
        with pytest.raises(CaptureError, match="permission denied"):
            inspect_capture(path)
        return
    with open_box() as base:  # root reads files whatever their mode: ask as 'nobody'
        path = _unreadable_capture(base / "box")
        lib = as_nobody(["-c", PROBE, str(path)], base / "home")
        assert lib.returncode == 3, lib.stderr
        assert "permission denied" in lib.stdout
        cli = as_nobody(["-m", "jupyter_sauce.cli", "analyze", str(path), "--no-vt"], base / "home")
        assert cli.returncode == 2, cli.stdout + cli.stderr
        assert "permission denied" in cli.stderr
        assert "Traceback" not in cli.stderr
