"""``jupyter sauce``: the command line, a thin adapter over :class:`~jupyter_sauce.Sauce`.

Exit codes: 0 success, 2 bad input, 1 failure. Errors are one sentence on stderr; a
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
import threading
import traceback
from pathlib import Path

from traitlets.config import Config

from .capture import check_capture_path
from .cli_output import ProgressPrinter, emit, visible
from .config import load_config
from .errors import InputError, RangeError, SauceError
from .networks import RangeFilter, parse_ranges
from .pipeline import Case, Sauce
from .userpaths import expand_user, make_folder


def _given(text: str) -> str:
    """A path or name argument: an empty one would quietly mean the default or '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value is not a path")
    return text


class _Joined(argparse.Action):
    """A range option given more than once means all of its ranges (``--exclude-src A
    --exclude-src B`` is ``--exclude-src "A, B"``), never only the last."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        before = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, f"{before}, {values}" if before else values)


class _Once(argparse.Action):
    """An option with one value: given twice is an error, not the last one quietly."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, f"_given_{self.dest}", False):
            parser.error(f"{option_string} was given more than once; give it once.")
        setattr(namespace, f"_given_{self.dest}", True)
        setattr(namespace, self.dest, values)


def _commands(parser: argparse.ArgumentParser, dest: str, common: argparse.ArgumentParser):
    """Subcommands of ``parser`` that all take ``common``'s options (``--debug``)."""
    commands = parser.add_subparsers(dest=dest, required=True)
    add_parser = commands.add_parser
    commands.add_parser = lambda name, **kw: add_parser(name, parents=[common], **kw)  # type: ignore[method-assign]
    return commands


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jupyter sauce",
        description="Packet-capture triage: Suricata alerts, network ranges, IoCs, VirusTotal.",
    )
    common = argparse.ArgumentParser(add_help=False)  # also after the command: analyze ... --debug
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument(
        "--store",
        metavar="DIR",
        type=_given,
        default=argparse.SUPPRESS,
        help="case store directory",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--store", metavar="DIR", type=_given, help="case store directory")
    sub = _commands(p, "command", common)

    a = sub.add_parser("analyze", help="analyse captures with Suricata")
    a.add_argument("captures", nargs="+", metavar="CAPTURE", type=_given)
    _analysis_args(a)
    a.add_argument("--exclude-src", default="", metavar="CIDRS", action=_Joined)
    a.add_argument("--exclude-dst", default="", metavar="CIDRS", action=_Joined)
    a.add_argument("--include-src", default="", metavar="CIDRS", action=_Joined)
    a.add_argument("--include-dst", default="", metavar="CIDRS", action=_Joined)
    a.add_argument("--hosts", action="store_true", help="IoCs from all hosts in the capture")

    d = sub.add_parser("demo", help="write and analyse the built-in Szechuan demo capture")
    d.add_argument(
        "--path", metavar="FILE", type=_given, action=_Once, help="where to write the demo capture"
    )
    _analysis_args(d, demo=True)

    lab = sub.add_parser(
        "lab", help="open JupyterLab on the demo notebook (the CaseWidget on the demo capture)"
    )
    lab.add_argument(
        "folder", nargs="?", default="sauce-demo", type=_given, help="where to write the demo"
    )
    lab.add_argument("lab_args", nargs=argparse.REMAINDER, help="more 'jupyter lab' arguments")

    r = sub.add_parser("rules", help="manage rulesets")
    rsub = _commands(r, "rules_command", common)
    u = rsub.add_parser("update", help="fetch ET Open with suricata-update")
    u.add_argument(
        "--local", metavar="PATH", type=_given, help="build from local rules only (offline)"
    )
    rsub.add_parser("show", help="show the default ruleset")

    v = sub.add_parser("reports", help="offline VirusTotal reports")
    vsub = _commands(v, "reports_command", common)
    vi = vsub.add_parser("import", help="import VT v3 IP reports (file or directory)")
    vi.add_argument("path", type=_given)
    ve = vsub.add_parser("export", help="export offline reports to a directory")
    ve.add_argument("dest", type=_given)
    return p


def _analysis_args(a: argparse.ArgumentParser, demo: bool = False) -> None:
    a.add_argument(
        "--rules",
        metavar="PATH",
        type=_given,
        action=_Once,
        help="rules dir/file, 'starter' or 'installed'",
    )
    a.add_argument(
        "--home-net", metavar="CIDRS", action=_Joined, help="HOME_NET for Suricata (repeatable)"
    )
    a.add_argument(
        "--vt", dest="vt", action="store_true", default=True, help="VirusTotal (default)"
    )
    a.add_argument("--no-vt", dest="vt", action="store_false", help="skip VirusTotal")
    a.add_argument(
        "--reports",
        metavar="DIR",
        type=_given,
        action=_Once,
        help="offline VirusTotal reports directory",
    )
    a.add_argument("--format", choices=("table", "csv", "json"), default="table", action=_Once)
    a.add_argument(
        "--out", metavar="DIR", action=_Once, help="write alerts, flows, IoCs as CSV and Parquet"
    )
    a.add_argument("--rerun", action="store_true", help="run Suricata even if results are stored")
    a.add_argument("--no-warm", action="store_true", help="do not keep a warm Suricata")


def _say(text: str) -> None:
    """One line on stderr, ``jupyter sauce: `` first; control characters escaped (a rule
    line or a file name may hold any byte)."""
    print(f"jupyter sauce: {visible(text)}", file=sys.stderr)


def _open(args: argparse.Namespace) -> Sauce:
    """The pipeline for this command; its set-up notes go to stderr."""
    sauce = Sauce(_config(args))
    for note in sauce.notes:
        _say(f"note: {note}")
    return sauce


def _config(args: argparse.Namespace) -> Config:
    extra = Config()
    if args.store:
        extra.StoreConfig.store_dir = args.store
    if getattr(args, "reports", None):
        extra.VirusTotalConfig.reports_dir = args.reports
    if getattr(args, "no_warm", False):
        extra.SuricataConfig.warm = False
    return load_config(extra)


def _analyse_many(
    sauce: Sauce, captures: list[str], args: argparse.Namespace
) -> list[tuple[Path, Case]]:
    """Each capture as given on the command line with its Case (in order)."""
    cases = []
    for cap in captures:
        printer = ProgressPrinter(Path(cap).name)
        try:
            case = sauce.analyze(
                cap,
                rules=args.rules,
                home_net=args.home_net,
                rerun=args.rerun,
                progress=printer,
                cancel=threading.Event(),
            )
            cases.append((Path(cap), case))
        finally:
            printer.close()
    return cases


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP unwind like Ctrl-C, so Suricata is stopped and no entry is half made."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8: \udcXX, no crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)
    try:
        return _main(args)
    except SauceError as exc:
        if args.debug:
            traceback.print_exc()
        elif exc.details:  # e.g. the tail of Suricata's log: before the sentence, indented
            details = "\n".join(visible(line) for line in exc.details.split("\n"))
            print(textwrap.indent(details, "  | "), file=sys.stderr)
        _say(f"error: {exc.message}")  # always the last line
        return exc.exit_code
    except KeyboardInterrupt:
        print("jupyter sauce: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 141  # 128 + SIGPIPE
    except Exception as exc:  # the boundary: anything unforeseen is one sentence, exit 1
        if args.debug:
            raise
        _say(f"error: {_unexpected(exc)}")
        return 1


def _unexpected(exc: Exception) -> str:
    """One sentence for an error outside the SauceError hierarchy (never its free text,
    which could carry a secret; an OSError's errno text and file name are safe)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}."
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    origin = f" in {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
    return (
        f"unexpected {type(exc).__name__}{origin}; run again with --debug for the traceback "
        "and report it."
    )


def _check_analyze_args(args: argparse.Namespace) -> None:
    """Refuse bad paths before Suricata runs on the first capture."""
    for capture in args.captures:
        check_capture_path(expand_user(capture))
    if args.out is not None and not args.out.strip():
        raise InputError("--out needs a folder name.")
    if args.out and expand_user(args.out).exists() and not expand_user(args.out).is_dir():
        raise InputError(f"--out names a file, {args.out!r}; give a folder.")
    if args.out:  # made now: a folder that cannot be is named before Suricata runs
        try:
            out = make_folder(args.out)
        except InputError as exc:
            raise InputError(f"--out: {exc.message}") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(f"--out: the folder {args.out!r} cannot be written into.")
    if args.reports:
        reports = expand_user(args.reports)
        if reports.exists() and not reports.is_dir():
            raise InputError(
                f"The reports folder {args.reports!r} given with --reports is not a directory."
            )


def _main(args: argparse.Namespace) -> int:
    if args.command == "analyze":
        try:
            flt = RangeFilter.from_strings(
                include_src=args.include_src,
                include_dst=args.include_dst,
                exclude_src=args.exclude_src,
                exclude_dst=args.exclude_dst,
            )
        except RangeError as exc:  # named by the option the user typed
            field, _, rest = exc.message.partition(": ")
            raise RangeError(f"--{field.replace('_', '-')}: {rest}") from None
        for note in flt.notes:  # named by the option the user typed, as errors are
            field, _, rest = note.partition(": ")
            _say(f"note: --{field.replace('_', '-')}: {rest}")
        _check_analyze_args(args)
        with _open(args) as sauce:
            if args.home_net:
                sauce.home_net(args.home_net)  # a bad one is named as HOME_NET
                for note in parse_ranges(args.home_net).notes:
                    _say(f"note: --home-net: {note}")
            if args.vt:
                enricher = sauce.enricher  # checks the reports folder before any analysis
                problem = enricher.key_problem()
                if problem is not None:  # before Suricata runs, not after
                    raise InputError(f"{problem} Fix it, or analyse with --no-vt.")
                if (
                    args.reports
                    and enricher.mode == "offline"
                    and not enricher.reports_dir.exists()
                ):
                    raise InputError(  # with a key, live answers would fill it
                        f"The reports folder {args.reports!r} given with --reports does not "
                        "exist, and without a VirusTotal key there is nothing to read or save."
                    )
            for capture in args.captures:  # a bad capture is named before any analysis
                sauce.inspect(expand_user(capture))
            cases = _analyse_many(sauce, args.captures, args)
            emit(sauce, cases, flt, args)
        return 0
    if args.command == "lab":
        from .demo_notebook import open_lab

        return open_lab(args.folder, args.lab_args)
    if args.command == "demo":
        from .demo import place_demo_capture

        target = Path(args.path) if args.path else Path.cwd() / "szechuan-demo.pcap"
        try:
            make_folder(target.parent)
        except InputError as exc:
            raise InputError(
                f"The demo capture cannot be written to {str(target)!r}: {exc.message}"
            ) from None
        place_demo_capture(target)
        print(f"The demo capture is {target}", file=sys.stderr)
        args.rules = args.rules or "starter"
        with _open(args) as sauce:
            cases = _analyse_many(sauce, [str(target)], args)
            emit(sauce, cases, RangeFilter(), args)
        return 0
    if args.command == "rules":
        with _open(args) as sauce:
            if args.rules_command == "update":
                from .rules import update_rules

                res = update_rules(
                    sauce.rules_config.data_dir, args.local, sauce.suricata_config.suricata_path
                )
                mine = res["local_rules"]
                extra = (
                    f" ({mine} of yours, the others bundled with Suricata: protocol events)"
                    if mine
                    else ""
                )
                print(f"Installed {res['rules']} rules{extra} in {res['rules_file']}.")
            else:
                rs = sauce.ruleset()
                print(f"Default ruleset: {rs.describe()}; fingerprint {rs.fingerprint[:16]}")
        return 0
    if args.command == "reports":
        with _open(args) as sauce:
            if args.reports_command == "import":
                loaded = sauce.enricher.import_reports(args.path)
                print(f"Imported {len(loaded.reports)} VirusTotal report(s).")
                for line in loaded.replaced:
                    _say(f"note: {line}")
                for line in loaded.skipped:
                    _say(f"skipped: {line}")
            else:
                exported = sauce.enricher.export_reports(args.dest)
                print(f"Exported {exported.written} VirusTotal report(s) to {args.dest}.")
                if exported.notice:
                    _say(f"note: {exported.notice}")
        return 0
    raise InputError(f"Unknown command {args.command!r}.")


if __name__ == "__main__":
    sys.exit(main())
