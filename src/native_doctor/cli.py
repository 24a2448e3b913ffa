"""The command line: the only module that prints.

``main(argv)`` returns the exit code: 0 clean, 1 findings at or above ``--fail-on``, 2 usage or
input error, 3 internal error. Results go to stdout (or ``--output``, written atomically);
progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from native_doctor import __version__
from native_doctor.errors import InvalidArchiveError, NativeDoctorError, UsageError

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection
    from native_doctor.checks.registry import Finding
    from native_doctor.environment import EnvironmentInspection

__all__ = ["entrypoint", "main"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: Interrupted by Ctrl-C: the shell convention 128 + SIGINT.
EXIT_INTERRUPTED = 130
_COMMANDS = ("env", "inspect", "check", "deps", "explain", "sbom", "repair", "fuse")
_SEVERITIES = ("error", "warning", "info")
_DESCRIPTION = """\
Find, explain and fix the problems native code causes in Python packaging.

commands:
  env        (default) examine the running Python environment's native files
  inspect    read wheels of any platform: binaries, dependencies, platform tags
  check      inspect wheels and run every check (for CI): --format text|json|sarif|github
  deps       PEP 725 external dependencies: validate, map to a package manager, --check the host,
             or infer a table from build files and binaries
  explain    print the documentation of a check (code or name), or --all
  sbom       software bill of materials of wheels or an environment: CycloneDX 1.6 or SPDX 2.3 JSON
  repair     graft external libraries into Linux, macOS and Windows wheels, link to provider wheels, retag
  fuse       fuse an arm64 and an x86_64 macOS wheel into one universal2 wheel (-w DIR)

exit codes: 0 clean, 1 findings, 2 usage or input error, 3 internal error
"""
#: The checks ``inspect`` and ``env`` run: reading problems, and needed libraries that nothing in
#: the artifact or the platform provides (ND201 and the checks that explain special cases of it).
_BASIC_CHECKS = frozenset(
    {
        "ND001",
        "ND002",
        "ND003",
        "ND201",
        "ND202",
        "ND203",
        "ND210",
        "ND211",
        "ND401",
        "ND402",
        "ND502",
        "ND503",
    }
)

#: ``native-doctor env --help`` (``native-doctor --help`` gives the overview of every command).
_ENV_DESCRIPTION = """\
Examine a Python environment's native files (default: the running interpreter's): simulate each
extension module's import with the platform's loader rules and report what would fail.
"""


def entrypoint() -> None:
    """Console-script entry point."""
    import gc

    # A command run makes a few hundred thousand objects and very little cyclic garbage: collect
    # the youngest generation after 100 000 net allocations instead of 700. The default ran ~35
    # collections over the import of the command's modules and the policy data (~9 ms of a small
    # wheel's repair; docs/performance.md), and freed next to nothing.
    gc.set_threshold(100_000)
    code = main()
    # The process ends now: let the interpreter's shutdown skip the garbage collector's passes over
    # every object the run made (~8 ms of a repair's exit). Nothing is lost: reference counting
    # still frees what it frees, atexit handlers run, stdout is flushed; only cycles left for the
    # collector go with the process, as the memory of every process does.
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run native-doctor with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    named = bool(args) and args[0] in _COMMANDS
    command = args.pop(0) if named else "env"
    parser = _parser(command)
    if named and command == "env":  # `native-doctor env --help`: env's own help, not the overview
        parser.prog, parser.description = "native-doctor env", _ENV_DESCRIPTION
    try:
        options = parser.parse_args(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return EXIT_CLEAN if exc.code in (0, None) else EXIT_USAGE
    except BrokenPipeError:  # --help into a closed pipe
        _stdout_closed()
        return EXIT_CLEAN
    try:
        _check_output(getattr(options, "output", None))
        return int(_RUNNERS[command](options))
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say, no traceback
        _stdout_closed()
        return EXIT_CLEAN
    except NativeDoctorError as exc:  # UsageError and unreadable inputs
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception:
        import traceback

        _error("internal error (this is a bug in native-doctor; please report it with the lines below)")
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL


# --- parsers ------------------------------------------------------------------------------------


def _parser(command: str) -> argparse.ArgumentParser:
    """The parser of ``command``, and only that one (building all eight took ~7 ms)."""
    return _PARSERS[command]()


#: The default of ``env --jobs``: the usable CPUs, at most this many.
_MAX_JOBS = 4


def _jobs(text: str) -> int:
    """``--jobs N``: a whole number of processes, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of processes (1 or more)")
    return value


def _default_jobs() -> int:
    from native_doctor.sources._parallel import usable_cpus

    return min(usable_cpus(), _MAX_JOBS)


def _env_parser() -> argparse.ArgumentParser:
    env = argparse.ArgumentParser(
        prog="native-doctor", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env.add_argument("-V", "--version", action="version", version=f"native-doctor {__version__}")
    env.add_argument(
        "--path", type=Path, action="append", help="a site-packages directory to examine instead"
    )
    env.add_argument("--python", metavar="PATH", help="examine this interpreter's environment instead")
    env.add_argument(
        "--runtime", action="store_true", help="also import each package in a child process and compare"
    )
    env.add_argument(
        "--no-cache",
        action="store_true",
        help="read every file again (by default unchanged files reuse the last run's results)",
    )
    env.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="processes that read site-packages at once on Linux (1: one; default: the usable "
        f"CPUs, at most {_MAX_JOBS}); the report is the same for any N",
    )
    _add_output_options(env, formats=("text", "json", "sarif", "github"))
    return env


def _inspect_parser() -> argparse.ArgumentParser:
    inspect = argparse.ArgumentParser(
        prog="native-doctor inspect",
        description="Read wheels of any platform from any host: native files, dependencies, platform tags.",
    )
    inspect.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    _add_output_options(inspect, formats=("text", "json"))
    return inspect


def _check_parser() -> argparse.ArgumentParser:
    check = argparse.ArgumentParser(
        prog="native-doctor check",
        description="Inspect wheels and run every check. Settings also come from [tool.native-doctor] in "
        "pyproject.toml (select, ignore, fail-on, preview); options override them.",
    )
    check.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    _add_output_options(check, formats=("text", "json", "sarif", "github"), fail_on_default=None)
    check.add_argument(
        "--select", action="append", metavar="CODES", help="codes, prefixes or names (comma-separated)"
    )
    check.add_argument("--ignore", action="append", metavar="CODES", help="codes, prefixes or names to skip")
    check.add_argument("--preview", action="store_true", help="also run checks in preview")
    check.add_argument(
        "--no-config", action="store_true", help="ignore [tool.native-doctor] in pyproject.toml"
    )
    check.add_argument(
        "--no-verify-record",
        action="store_true",
        help="do not hash members against RECORD (faster on huge wheels)",
    )
    return check


def _deps_parser() -> argparse.ArgumentParser:
    deps = argparse.ArgumentParser(
        prog="native-doctor deps",
        description="External (non-Python) dependencies of a project, sdist or wheel (PEP 725 [external]): "
        "validate them, map them to a package manager's names and install command, check whether this "
        "host has them, and infer a table where there is none.",
    )
    deps.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path(),
        help="project directory (default: .), pyproject.toml, sdist or wheel",
    )
    deps.add_argument(
        "--manager",
        "--ecosystem",
        dest="ecosystem",
        metavar="NAME",
        help="debian, fedora, alpine, arch, homebrew, conda-forge, spack, nix, vcpkg, chocolatey or winget "
        "(default: detected from this host)",
    )
    deps.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="a PEP 804 mapping file (or registry file) to use instead",
    )
    deps.add_argument(
        "--target",
        choices=("linux", "macos", "windows"),
        help="evaluate environment markers for this platform",
    )
    deps.add_argument("--check", action="store_true", help="check whether this host has each dependency")
    deps.add_argument("--infer", action="store_true", help="also infer a table from build files or binaries")
    deps.add_argument("--extra", action="append", default=[], help="include an optional-dependencies extra")
    deps.add_argument("--group", action="append", default=[], help="include a dependency group")
    deps.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    deps.add_argument("-o", "--output", type=Path, help="write the report to this file (atomically)")
    return deps


def _explain_parser() -> argparse.ArgumentParser:
    explain = argparse.ArgumentParser(
        prog="native-doctor explain", description="Print a check's documentation."
    )
    explain.add_argument(
        "check", nargs="*", help="check codes (ND201) or names (external-library), one page each"
    )
    explain.add_argument("--all", action="store_true", help="every check")
    explain.add_argument("--format", choices=("text", "json"), default="text")
    return explain


def _fuse_parser() -> argparse.ArgumentParser:
    fuse = argparse.ArgumentParser(
        prog="native-doctor fuse",
        description="Fuse an arm64 and an x86_64 macOS wheel of one distribution version into one universal2 "
        "wheel: every binary pair becomes one fat file; other files must be identical. "
        "Exit 0 fused, 1 cannot fuse (nothing written), 2 usage or input error.",
    )
    fuse.add_argument("wheels", nargs=2, type=Path, metavar="WHEEL")
    fuse.add_argument("-w", "--wheel-dir", type=Path, default=Path("wheelhouse"), help="output folder")
    fuse.add_argument(
        "--allow-different", action="store_true", help="keep the arm64 wheel's copy of files that differ"
    )
    fuse.add_argument("--dry-run", action="store_true", help="print what would be done; write nothing")
    fuse.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return fuse


def _repair_parser() -> argparse.ArgumentParser:
    repair = argparse.ArgumentParser(
        prog="native-doctor repair",
        description="Repair Linux, macOS and Windows wheels: graft the libraries they need into the wheel "
        "(<dist>.libs, or <package>/.dylibs on macOS), link to libraries other wheels provide, verify, "
        "retag, write canonical wheels. "
        "Exit 0 repaired or nothing to do, 1 cannot repair (nothing written), 2 usage or input error.",
    )
    repair.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    repair.add_argument(
        "-w",
        "--wheel-dir",
        type=Path,
        default=Path("wheelhouse"),
        help="output folder (default: wheelhouse/)",
    )
    repair.add_argument(
        "--lib-path", action="append", default=[], metavar="DIR", help="search this folder first (repeatable)"
    )
    repair.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN", help="never graft this library (family)"
    )
    repair.add_argument(
        "--provided-by",
        action="append",
        default=[],
        metavar="DIST",
        help="link to this distribution's libraries instead of grafting them",
    )
    repair.add_argument(
        "--no-provider",
        action="append",
        default=[],
        metavar="DIST",
        help="never link to this distribution (built-in knowledge included): graft its libraries",
    )
    repair.add_argument("--plat", metavar="TAG", help="ask for this platform tag (refused if impossible)")
    repair.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="DLL",
        help="Windows: vendor this DLL although nothing imports it (loaded by name at run time)",
    )
    repair.add_argument(
        "--no-mangle",
        action="append",
        default=[],
        metavar="DLL",
        help="Windows: vendor this DLL under its own name",
    )
    repair.add_argument(
        "--no-sys-paths", action="store_true", help="do not search this host's library folders"
    )
    repair.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    repair.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return repair


def _sbom_parser() -> argparse.ArgumentParser:
    sbom = argparse.ArgumentParser(
        prog="native-doctor sbom",
        description="Software bill of materials: each wheel (or installed distribution) and every native "
        "library it ships, with upstream name, version found in the binary, SHA-256, purl, CPE and license.",
    )
    sbom.add_argument("wheels", nargs="*", type=Path, metavar="WHEEL")
    sbom.add_argument(
        "--path", type=Path, action="append", help="a site-packages directory instead of wheels"
    )
    sbom.add_argument("--python", metavar="PATH", help="this interpreter's environment instead of wheels")
    sbom.add_argument(
        "--format",
        choices=("cyclonedx", "spdx"),
        default="cyclonedx",
        help="CycloneDX 1.6 (default) or SPDX 2.3",
    )
    sbom.add_argument("-o", "--output", type=Path, help="write the document to this file (atomically)")
    return sbom


_PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "env": _env_parser,
    "inspect": _inspect_parser,
    "check": _check_parser,
    "deps": _deps_parser,
    "explain": _explain_parser,
    "sbom": _sbom_parser,
    "repair": _repair_parser,
    "fuse": _fuse_parser,
}


def _add_output_options(
    parser: argparse.ArgumentParser, *, formats: tuple[str, ...], fail_on_default: str | None = "error"
) -> None:
    parser.add_argument("--format", choices=formats, default="text", help="output format (default: text)")
    parser.add_argument("-o", "--output", type=Path, help="write the report to this file (atomically)")
    parser.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour in text output"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show every library and symbol version")
    parser.add_argument(
        "--fail-on",
        choices=_SEVERITIES,
        default=fail_on_default,
        help="lowest finding severity that makes the exit code 1 (default: error)",
    )
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")


# --- commands -----------------------------------------------------------------------------------


def _read_wheels(
    paths: Sequence[Path], selected: frozenset[str], *, deep: bool = False, verify_record: bool = False
) -> tuple[list[Inspection], list[Finding]]:
    """Read and inspect each wheel; an unreadable one becomes finding ND001."""
    from native_doctor.analysis import inspect_artifact
    from native_doctor.checks.builtin import UNREADABLE_ARCHIVE
    from native_doctor.checks.registry import run_checks
    from native_doctor.sources.wheel import read_wheel

    for path in paths:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory, not a wheel")
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        if path.suffix.lower() != ".whl":
            raise UsageError(f"{path}: not a wheel: expected a .whl file{_what_it_is(path)}")
    inspections: list[Inspection] = []
    findings: list[Finding] = []
    for path in paths:
        with _progress(f"reading {path.name}") as tick:
            try:
                artifact = read_wheel(path, deep=deep, verify_record=verify_record, progress=tick)
            except InvalidArchiveError as exc:
                if UNREADABLE_ARCHIVE.code not in selected:
                    raise  # not reported as a finding: an input error (exit 2) rather than silence
                findings.append(UNREADABLE_ARCHIVE.finding(str(exc), str(path)))
                continue
        inspection = _with_optional_extensions(path, inspect_artifact(artifact))
        inspections.append(inspection)
        findings.extend(run_checks(inspection, selected))
    return inspections, findings


def _with_optional_extensions(path: Path, inspection: Inspection) -> Inspection:
    """``inspection`` with the extension modules that need an external library and that the
    package imports only where it catches ``ImportError`` (read from the wheel's Python files only
    when there are such modules: most wheels have none)."""
    import dataclasses

    from native_doctor.model import Resolution
    from native_doctor.sources.wheel import optional_extensions

    needing = [
        b.native.path
        for b in inspection.binaries
        if any(d.resolution is Resolution.EXTERNAL for d in b.dependencies)
    ]
    optional = optional_extensions(path, needing) if needing else frozenset()
    if not optional:
        return inspection
    artifact = dataclasses.replace(inspection.artifact, optional_extensions=tuple(sorted(optional)))
    return dataclasses.replace(inspection, artifact=artifact)


def _what_it_is(path: Path) -> str:
    """A hint for a file given where a wheel was expected."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz")):
        return (
            " (this looks like a source distribution: build a wheel from it, or read its external "
            "dependencies with `native-doctor deps`)"
        )
    if name.endswith(".egg"):
        return " (eggs are not wheels)"
    return ""


def _run_inspect(options: argparse.Namespace) -> int:
    inspections, findings = _read_wheels(options.wheels, _BASIC_CHECKS)
    return _report(options, inspections, findings)


def _run_check(options: argparse.Namespace) -> int:
    from native_doctor.checks.selection import select_checks
    from native_doctor.config import find_pyproject, load_config

    config = load_config(None if options.no_config else find_pyproject(Path.cwd()))
    select = _split(options.select) if options.select else config.select
    ignore = _split(options.ignore or []) + config.ignore
    selected = select_checks(select, ignore, preview=options.preview or config.preview)
    options.fail_on = options.fail_on or config.fail_on or "error"
    inspections, findings = _read_wheels(
        options.wheels, selected, deep=True, verify_record=not options.no_verify_record
    )
    return _report(options, inspections, findings, binaries=options.verbose)


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _run_env(options: argparse.Namespace) -> int:
    from native_doctor.sources.envresult import for_run, keeps_report
    from native_doctor.sources.sites import site_packages, site_packages_of

    if options.path:
        directories = options.path
    elif options.python:
        # A run that cannot be answered by the kept report imports the examining modules while the
        # interpreter answers (a kept report is printed without them).
        meanwhile = None if keeps_report(vars(options)) else _import_env_modules
        directories = site_packages_of(options.python, meanwhile=meanwhile)
    else:
        directories = site_packages()
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a directory")
    results = for_run(vars(options), directories)  # the last report, while nothing it read changed
    kept = results.replay() if results is not None else None
    if kept is not None:
        _write(None, kept[1])
        return kept[0]
    from native_doctor.doctor import examine
    from native_doctor.sources.envcache import EnvCache
    from native_doctor.sources.envresult import Inputs

    inputs = Inputs() if results is not None else None
    jobs = options.jobs or _default_jobs()
    caches = [EnvCache(d, enabled=not options.no_cache) for d in directories]
    with _progress("examining the environment") as tick:
        environment = examine(
            directories,
            python=options.python,
            runtime=options.runtime,
            progress=tick,
            inputs=inputs,
            jobs=jobs,
            prepare=_import_checks,
            caches=caches,
        )

    encoded: list[str] = []

    def keep() -> None:
        """Save the scan caches, encode the kept report's inputs (while a child encodes the JSON
        report, with --jobs)."""
        for store in caches:
            store.save()
        if results is not None and inputs is not None:
            encoded.append(results.encode(inputs))

    keeps = results is not None or any(store.enabled for store in caches)
    code, output = _env_report(
        options, environment, jobs, record=results is not None, meanwhile=keep if keeps else None
    )
    if results is not None:
        results.store(code, output, encoded[0])
    return code


def _env_report(
    options: argparse.Namespace,
    environment: EnvironmentInspection,
    jobs: int,
    *,
    record: bool,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Call ``meanwhile``, write the ``env`` report; its exit code and, when ``record``, what was
    written."""
    json_head = None
    if options.format == "json" and jobs > 1:
        findings, json_head = _findings_beside_json(environment, meanwhile)
    else:
        if meanwhile is not None:
            meanwhile()
        findings = _env_findings(environment)
    extra = {"environment": _environment_json(environment)} if json_head is None else None
    with _recording(record) as written:
        code = _report(
            options,
            list(environment.distributions),
            findings,
            header=_host_summary(environment, examined=options.path),
            extra=extra,
            binaries=options.verbose,
            footer=[_env_verdict(environment, findings)],
            json_head=json_head,
        )
    return code, "".join(written)


def _env_findings(environment: EnvironmentInspection) -> list[Finding]:
    """What the checks ``env`` runs find in ``environment``."""
    from native_doctor.checks.registry import run_checks, run_environment_checks

    findings = [f for i in environment.distributions for f in run_checks(i, _ENV_ARTIFACT_CHECKS)]
    findings.extend(run_environment_checks(environment))
    return findings


#: The share of the JSON report's ``artifacts`` (counted in binaries) this process encodes after
#: the checks, while a child encodes the rest: about what balances the two (measured on the
#: large environment: checks ~20 ms, encoding every artifact ~24 ms). When this process has other
#: work to do meanwhile (saving the caches: ~10 ms), the child encodes them all.
_OWN_ARTIFACTS = 0.2
#: Fewer binaries than this in all artifacts: the report is encoded here (a child would cost more
#: than the ~6 ms encoding them takes; the large environment has 396).
_MIN_FORKED_BINARIES = 100


def _findings_beside_json(
    environment: EnvironmentInspection, meanwhile: Callable[[], None] | None = None
) -> tuple[list[Finding], list[str] | None]:
    """Call ``meanwhile``; the findings, and the JSON report's members before ``findings`` (None: a
    forked child could not encode them): a child encodes most of ``artifacts`` while this process
    calls ``meanwhile``, runs the checks, and encodes the lightest artifacts and the other members
    (Linux; the same text as encoding the whole report here: ``json_report.member``,
    ``json_report.list_member``)."""
    from native_doctor.report.json_report import (
        document,
        element,
        inspection_to_dict,
        list_member,
        member,
    )
    from native_doctor.sources._parallel import can_fork, run_groups

    inspections = list(environment.distributions)
    weights = [len(i.binaries) + 1 for i in inspections]
    if not can_fork() or sum(weights) - len(weights) < _MIN_FORKED_BINARIES:
        if meanwhile is not None:
            meanwhile()
        return _env_findings(environment), None
    share = _OWN_ARTIFACTS if meanwhile is None else 0.0
    own: set[int] = set()  # the lightest artifacts, up to the share this process encodes
    for index in sorted(range(len(inspections)), key=lambda i: (weights[i], i)):
        if sum(weights[i] for i in own) + weights[index] > share * sum(weights):
            break
        own.add(index)
    theirs = [i for i in range(len(inspections)) if i not in own]

    def work(part: str) -> object:
        if part == "child":
            return [element(inspection_to_dict(inspections[i])) for i in theirs]
        if meanwhile is not None:
            meanwhile()
        findings = _env_findings(environment)  # then the rest of the report, while the child encodes
        head = document([], [], extra={"environment": _environment_json(environment)})
        del head["artifacts"], head["findings"]
        members = [member(key, value) for key, value in head.items()]
        return findings, members, {i: element(inspection_to_dict(inspections[i])) for i in sorted(own)}

    def valid(part: str, result: object) -> bool:
        return (
            part == "child"
            and isinstance(result, list)
            and len(result) == len(theirs)
            and all(isinstance(m, str) for m in result)
        )

    sent, mine = run_groups(work, ["child", "here"], valid)
    findings, members, encoded = cast("tuple[list[Finding], list[str], dict[int, str]]", mine)
    encoded.update(zip(theirs, cast("list[str]", sent), strict=True))
    elements = [encoded[i] for i in range(len(inspections))]
    return findings, [*members, list_member("artifacts", elements)]


def _import_env_modules() -> None:
    import native_doctor.doctor  # noqa: F401


def _import_checks() -> None:
    """What the checks and the JSON report import, imported while children read."""
    from native_doctor.checks.registry import all_checks
    from native_doctor.report import json_report  # noqa: F401

    all_checks()


@contextmanager
def _recording(enabled: bool) -> Iterator[list[str]]:
    """Everything written to stdout inside the block (still written), when ``enabled``."""
    written: list[str] = []
    if not enabled:
        yield written
        return
    stream = sys.stdout
    sys.stdout = _Recorder(stream, written)
    try:
        yield written
    finally:
        sys.stdout = stream


class _Recorder:
    """stdout that keeps a copy of what is written (a terminal's properties are the stream's)."""

    def __init__(self, stream: Any, written: list[str]) -> None:
        self._stream = stream
        self._written = written

    def write(self, text: str) -> int:
        self._written.append(text)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _env_verdict(environment: EnvironmentInspection, findings: Sequence[Finding]) -> str:
    """The closing line of ``env``: healthy, or how many errors and warnings."""
    from native_doctor.checks.registry import Severity

    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    total = len(environment.installed) or len(environment.distributions)
    where = f"{total} distribution(s)"
    notes = counts.get(Severity.INFO, 0)
    if not counts.get(Severity.ERROR, 0) and not counts.get(Severity.WARNING, 0):
        extra = f" ({notes} note(s) for information)" if notes else ""
        return f"verdict: healthy: no errors or warnings in {where}{extra}"
    parts = [f"{counts[s]} {s.value}(s)" for s in (Severity.ERROR, Severity.WARNING) if counts.get(s, 0)]
    return f"verdict: {', '.join(parts)} in {where}"


#: Artifact checks that still apply to an installed distribution (the loader simulation replaces
#: the wheel-level library checks).
_ENV_ARTIFACT_CHECKS = frozenset({"ND002"})


def _host_summary(environment: Any, examined: Sequence[Path] | None = None) -> list[str]:
    host = environment.host
    level = f", x86-64-v{host.x86_64_level}" if host.x86_64_level else ""
    libc = f"{host.libc_name} {host.libc_version}" if host.libc_name else "unknown libc"
    threads = " free-threaded" if host.free_threaded else ""
    gpu = f"; NVIDIA driver {host.nvidia_driver}" if host.nvidia_driver else ""
    installers = ", ".join(f"{k} ({v})" for k, v in sorted(host.installers.items())) or "none recorded"
    python = f"Python {host.python_version}{threads}"
    lines = [
        f"examined folder(s): {', '.join(str(p) for p in examined)} (simulated with {python}, "
        f"{host.executable})"
        if examined
        else f"{python} ({host.executable}), {host.environment_kind} environment",
        f"host: {host.distro_name or host.os_name} {host.machine}, {libc}{level}{gpu}",
        f"site-packages: {', '.join(environment.site_packages)}; installed by: {installers}",
        f"{len(environment.distributions)} distribution(s) carry native files; "
        f"{sum(len(p.extensions) for p in environment.predictions)} extension module(s) simulated",
    ]
    foreign = sum(len(s.foreign) for s in environment.installed)
    if foreign:
        lines.append(
            f"{foreign} native file(s) for another operating system (such as pip's Windows launchers) "
            "counted apart, not examined"
        )
    for probe in environment.runtime:
        state = "ok" if probe.ok else f"FAILED ({probe.signal or probe.error or 'error'})"
        lines.append(f"runtime: import {probe.module}: {state}")
    return lines


def _environment_json(environment: EnvironmentInspection) -> dict[str, Any]:
    host = _plain(environment.host)
    return {
        "python": environment.host.executable,
        "python_version": environment.host.python_version,
        "implementation": environment.host.python_implementation,
        "platform": f"{environment.host.os_name} {environment.host.machine}",
        "site_packages": list(environment.site_packages),
        "host": host,
        "imports_simulated": [
            {
                "distribution": p.distribution,
                "extensions": list(p.extensions),
                "failed": [r.requested for r in p.report.extensions if not r.ok],
                "loaded": [o.path for o in p.report.loaded],
            }
            for p in environment.predictions
        ],
        "runtime": [_plain(probe) for probe in environment.runtime],
    }


def _plain(value: Any) -> Any:
    """A dataclass (or mapping, sequence) as JSON-ready data; mappingproxy fields included."""
    import dataclasses
    from collections.abc import Mapping

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value


def _run_explain(options: argparse.Namespace) -> int:
    import json

    from native_doctor.checks.registry import Check, all_checks, get

    if options.all:
        checks = all_checks()
    elif options.check:
        checks = []
        for named in options.check:
            found = get(named)
            if found is None:
                raise UsageError(f"unknown check {named!r}; `native-doctor explain --all` lists them")
            checks.append(found)
    else:
        raise UsageError("name a check (code or name) or pass --all")

    def as_dict(check: Check) -> dict[str, Any]:
        return {
            "code": check.code,
            "name": check.name,
            "severity": check.severity.value,
            "status": check.status.value,
            "summary": check.summary,
            "what": check.what,
            "why": check.why,
            "fix": check.fix,
            "page": check.page,
            "references": list(check.references),
        }

    if options.format == "json":
        sys.stdout.write(json.dumps([as_dict(c) for c in checks], indent=2) + "\n")
        return EXIT_CLEAN
    if options.all:  # one line per check; `explain CODE` prints the full page
        width = max(len(c.name) for c in checks)
        for check in checks:
            preview = "" if check.status.value == "stable" else f" [{check.status.value}]"
            print(f"{check.code}  {check.name:<{width}}  {check.severity.value:<7}  {check.summary}{preview}")
        return EXIT_CLEAN
    for check in checks:
        print(f"{check.code} {check.name} ({check.severity.value}, {check.status.value})")
        print(f"  {check.summary}\n")
        for title, text in (
            ("What it checks", check.what),
            ("Why it matters", check.why),
            ("How to fix", check.fix),
        ):
            print(f"{title}:\n  {text}\n")
        print(f"Background: docs/knowledge/{check.page}.md")
        if check.references:
            print("References:\n" + "".join(f"  {r}\n" for r in check.references))
    return EXIT_CLEAN


def _run_deps(options: argparse.Namespace) -> int:
    from native_doctor.deps.report import as_json, build_report
    from native_doctor.report.json_report import SCHEMA_VERSION, dumps

    report = build_report(
        options.path,
        ecosystem=options.ecosystem,
        user_mapping=options.mapping,
        check=options.check,
        force_infer=options.infer,
        extras=tuple(options.extra),
        groups=tuple(options.group),
        target=options.target,
    )
    if options.format == "json":
        document = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "native-doctor", "version": __version__},
            "external": as_json(report),
        }
        _write(options.output, dumps(document))
    else:
        _write(options.output, _deps_text(report))
    return EXIT_FINDINGS if report.missing else EXIT_CLEAN


def _deps_text(report: Any) -> str:
    from native_doctor.deps import infer

    lines = [f"{report.path}: {_declared(report)}"]
    lines.append(f"ecosystem: {report.ecosystem or 'none detected (use --manager NAME)'}")
    for category in ("build", "host", "run"):
        rows = [r for r in report.rows if r.category == category]
        if rows:
            lines.append(f"{category}:")
        for row in rows:
            names = (
                "(not in the mapping)"
                if row.packages is None
                else " ".join(row.packages) or "(nothing to install)"
            )
            skipped = "" if row.applies else "  [marker excludes this platform]"
            lines.append(f"  {row.dep!s:<48} {names}{skipped}")
    for command in report.install:
        lines.append(f"install: {' '.join(command)}")
    if report.checks is not None:
        lines.append("host check:")
        for check in report.checks:
            state = {True: "present", False: "missing", None: "unknown"}[check.present]
            if check.satisfies_version is False:
                state = "too old"
            detail = ", ".join(check.missing) if check.present is False else ", ".join(check.found[:2])
            if check.satisfies_version is False:
                detail = f"installed {check.version}, needs {check.dep.url.version}; {detail}"
            lines.append(f"  {state:<8} {check.dep.url!s} ({check.category})  {detail}")
        for command in report.install_missing:
            lines.append(f"to install what is missing: {' '.join(command)}")
        for command in report.upgrade_old:
            lines.append(f"to upgrade what is too old: {' '.join(command)}")
    if report.inferred_rows and report.ecosystem is not None:
        lines.append(f"inferred ({report.ecosystem} names):")
        for row in report.inferred_rows:
            names = "(not in the mapping)" if row.packages is None else " ".join(row.packages) or "(nothing)"
            flag = f"  [optional: {row.feature}]" if row.feature else "  [optional]" if row.optional else ""
            if row.optional and row.default == "off":
                flag = flag[:-1] + ", off unless asked]"
            lines.append(f"  {row.category:<5} {row.dep!s:<48} {names}{flag}")
        for command in report.inferred_install:
            lines.append(f"install (inferred, required): {' '.join(command)}")
    if report.inference is not None:
        lines.append("")
        lines.append("# proposed [external] table (inferred; review before pasting into pyproject.toml)")
        lines.extend(infer.to_toml(report.inference).rstrip().split("\n"))
    from native_doctor._text import printable

    return "".join(printable(line) + "\n" for line in lines)


def _declared(report: Any) -> str:
    if report.table is None:
        return "no [external] table"
    count = len({str(r.dep) for r in report.rows})
    return f"[external] declares {count} dependenc{'y' if count == 1 else 'ies'}"


def _run_sbom(options: argparse.Namespace) -> int:
    from native_doctor.sbom.collect import collect_environment, collect_wheels
    from native_doctor.sbom.cyclonedx import render_cyclonedx
    from native_doctor.sbom.spdx import render_spdx
    from native_doctor.sources.env import site_packages_of

    sources = sum(1 for given in (options.wheels, options.path, options.python) if given)
    if sources != 1:
        raise UsageError("sbom: give wheels, or --path DIR, or --python PATH (one of them)")
    for path in options.wheels:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    directories = options.path or (site_packages_of(options.python) if options.python else [])
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a directory")
    with _progress("reading native files"):
        sbom, findings = (
            collect_wheels(options.wheels) if options.wheels else collect_environment(directories)
        )
    text = render_cyclonedx(sbom) if options.format == "cyclonedx" else render_spdx(sbom, _created())
    _write(options.output, text)
    for finding in findings:  # the document is the output; findings go beside it, on stderr
        print(f"{finding.code} {finding.name}: {finding.message}", file=sys.stderr)
    return EXIT_FINDINGS if findings else EXIT_CLEAN


def _created() -> str:
    """SPDX creation time: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now."""
    import datetime

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch.isdigit()
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_repair(options: argparse.Namespace) -> int:
    from native_doctor.repair import RepairOptions, repair_wheel
    from native_doctor.report.repair import repair_json, repair_text

    for path in options.wheels:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    for folder in options.lib_path:
        if not Path(folder).is_dir():
            raise UsageError(f"--lib-path {folder}: not a folder")
    request = RepairOptions(
        lib_paths=tuple(options.lib_path),
        excludes=tuple(options.exclude),
        provided_by=tuple(options.provided_by),
        no_providers=tuple(options.no_provider),
        plat=options.plat,
        use_host=not options.no_sys_paths,
        includes=tuple(options.include),
        no_mangle=tuple(options.no_mangle),
    )
    results = []
    for path in options.wheels:
        with _progress(f"repairing {path.name}") as tick:
            results.append(
                repair_wheel(path, request, options.wheel_dir, dry_run=options.dry_run, progress=tick)
            )
    render = repair_json if options.format == "json" else repair_text
    sys.stdout.write(render(results, dry_run=options.dry_run))
    failed = [r for r in results if r.problem is not None]
    for result in failed:
        _error(f"cannot repair {Path(result.plan.wheel).name}: {result.problem}")
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _run_fuse(options: argparse.Namespace) -> int:
    from native_doctor.repair.fuse import fuse_wheels
    from native_doctor.repair.model import CannotRepair
    from native_doctor.report.fuse import fuse_json, fuse_text

    for path in options.wheels:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    first, second = options.wheels
    try:
        result = fuse_wheels(
            first, second, options.wheel_dir, allow_different=options.allow_different, dry_run=options.dry_run
        )
    except CannotRepair as exc:
        _error(f"cannot fuse: {exc}")
        return EXIT_FINDINGS
    render = fuse_json if options.format == "json" else fuse_text
    sys.stdout.write(render(result, dry_run=options.dry_run))
    if result.problem is not None:
        _error(f"cannot fuse: {result.problem}")
        return EXIT_FINDINGS
    return EXIT_CLEAN


_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "env": _run_env,
    "inspect": _run_inspect,
    "check": _run_check,
    "deps": _run_deps,
    "explain": _run_explain,
    "sbom": _run_sbom,
    "repair": _run_repair,
    "fuse": _run_fuse,
}


# --- output -------------------------------------------------------------------------------------


def _report(
    options: argparse.Namespace,
    inspections: list[Inspection],
    findings: list[Finding],
    *,
    header: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    binaries: bool = True,
    footer: Sequence[str] = (),
    json_head: Sequence[str] | None = None,
) -> int:
    """Write the report; ``json_head``: the JSON report's members before ``findings``, encoded
    already (``json_report.member``)."""
    from native_doctor.checks.registry import Severity
    from native_doctor.report.json_report import document, dumps, sorted_findings

    findings = sorted_findings(findings)
    if options.format == "json" and json_head is not None:
        from native_doctor.report.json_report import finding_to_dict, join_members, member

        listed = member("findings", [finding_to_dict(f) for f in findings])
        _write(options.output, join_members([*json_head, listed]))
    elif options.format == "json":
        _write(options.output, dumps(document(inspections, findings, extra=extra)))
    elif options.format == "sarif":
        _write(options.output, _sarif(findings))
    elif options.format == "github":
        from native_doctor.report import github

        _write(options.output, github.render(findings))
    else:
        _write_text(options, inspections, findings, header, binaries=binaries, footer=footer)
    threshold = Severity(options.fail_on).rank
    failing = any(f.severity.rank >= threshold for f in findings)
    return EXIT_FINDINGS if failing and not options.exit_zero else EXIT_CLEAN


def _sarif(findings: list[Finding]) -> str:
    import json

    from native_doctor.checks.registry import all_checks
    from native_doctor.report import sarif

    return json.dumps(sarif.render(findings, all_checks(), tool_version=__version__), indent=2) + "\n"


def _write_text(
    options: argparse.Namespace,
    inspections: list[Inspection],
    findings: list[Finding],
    header: Sequence[str],
    *,
    binaries: bool,
    footer: Sequence[str] = (),
) -> None:
    import io

    from rich.console import Console

    from native_doctor.report.text import render

    target = sys.stdout if options.output is None else io.StringIO()
    console = (
        _console(target, options.color)
        if options.output is None
        else Console(file=target, no_color=True, soft_wrap=True)
    )
    render(console, inspections, findings, header=header, verbose=options.verbose, binaries=binaries)
    for line in footer:
        console.print(line, markup=False, highlight=False)
    if isinstance(target, io.StringIO):
        _write(options.output, target.getvalue())


def _console(stream: Any, color: str) -> Any:
    """A rich console for ``stream``: in ``auto`` mode rich honours NO_COLOR, FORCE_COLOR and TTYs."""
    from rich.console import Console

    if stream is sys.stdout:  # `check ... | head`: the report stops, the exit code still counts
        stream = _ClosedPipeSafe(stream)
    if color == "always":
        return Console(file=stream, force_terminal=True, soft_wrap=True)
    if color == "never":
        return Console(file=stream, no_color=True, force_terminal=False, soft_wrap=True)
    return Console(file=stream, soft_wrap=True)


def _check_output(path: Path | None) -> None:
    """Refuse an unusable ``--output`` before any work is done."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"--output {path}: is a directory")
    if not path.resolve().parent.is_dir():
        raise UsageError(f"--output {path}: directory {path.resolve().parent} does not exist")


def _write(path: Path | None, text: str) -> None:
    """Write to stdout, or atomically to ``path`` (a temporary file renamed into place)."""
    if path is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away: the run's exit code still counts
            _stdout_closed()
        return
    if path.exists() and not path.is_file():
        # /dev/null, a FIFO, a terminal: write through; renaming over it would replace the device
        try:
            with path.open("w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as exc:
            raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
        return
    import tempfile

    directory = path.resolve().parent
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        Path(temporary).chmod(0o666 & ~umask)  # mkstemp creates 0600; a report is an ordinary file
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).replace(path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_console(sys.stderr, "auto")) as bar:
        from native_doctor.report.text import escape

        task = bar.add_task(escape(label), total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


class _ClosedPipeSafe:
    """stdout for rich: a closed pipe (EPIPE) ends the output quietly instead of the run."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            _stdout_closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _stdout_closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stdout_closed() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already gone
        pass


def _error(message: str) -> None:
    """One line on stderr: input-derived text made visible and capped (a 50 MB DepURL is not echoed)."""
    from native_doctor._text import MESSAGE_LIMIT, printable, shorten

    print(f"native-doctor: error: {printable(shorten(message, MESSAGE_LIMIT))}", file=sys.stderr)
