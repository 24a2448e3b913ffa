"""Hostile inputs end in a clean verdict, in bounded time and memory, and reach no terminal raw.

Every case runs the real command line in a child process whose address space is capped
(``RLIMIT_AS``) and whose run time is bounded by a generous timeout: these are guards against
hangs and unbounded memory, not performance measurements (see docs/performance.md for those).
Exceeding the memory cap shows as a ``MemoryError`` traceback (exit 3), the timeout as a failure.
Every archive is written at test time by tests/_hostile.py; nothing hostile is committed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from _hostile import (
    ELF_HEADER,
    Member,
    deflated,
    lzma_member,
    plain,
    wheel_members,
    write_zip,
    zeros_deflated,
)
from _toolchain import require
from _toolchain import run as run_tool
from native_doctor.deps import host
from native_doctor.deps.depurl import parse_depurl
from native_doctor.errors import InvalidExternalMetadata
from native_doctor.report import sarif

#: Address-space cap of the child (the interpreter, rich and native-doctor need about 100 MB).
MEMORY_CAP = 1 << 30
#: A hang guard for a loaded 2-core machine; every case here takes about a second.
TIME_CAP = 60
WHEEL = "demo-1.0-py3-none-linux_x86_64.whl"
_CHILD = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))\n"
    "from native_doctor.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def cli(*args: str | Path, cwd: Path, memory: int = MEMORY_CAP) -> Run:
    """native-doctor ``args`` in a child process with capped memory (``memory`` bytes) and time."""
    child = _CHILD.format(cap=memory)
    proc = subprocess.run(
        [sys.executable, "-c", child, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=TIME_CAP,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return Run(proc.returncode, proc.stdout, proc.stderr)


def codes(run: Run) -> dict[str, list[str]]:
    """Finding code -> messages, from ``--format json`` output."""
    found: dict[str, list[str]] = {}
    for finding in json.loads(run.stdout)["findings"]:
        found.setdefault(finding["code"], []).append(finding["message"])
    return found


# --- issue 15 item 1: archive-level failures are findings, never tracebacks -----------------------

_SO = ELF_HEADER + bytes(4000)


def _corrupt_lzma() -> Member:
    good = lzma_member("demo/_x.so", _SO)
    return replace(good, data=good.data[:9] + b"\xff" * (len(good.data) - 9))


#: A hostile ``demo/_x.so`` and the reason native-doctor must give for it.
MEMBERS = {
    "corrupt-deflate": (Member(b"demo/_x.so", b"\xff" * 64, len(_SO), 0), "corrupt deflate stream"),
    "encrypted": (replace(plain("demo/_x.so", _SO), flags=0x1), "encrypted member"),
    "unsupported-method": (replace(plain("demo/_x.so", _SO), method=99), "unsupported compression method"),
    "corrupt-lzma": (_corrupt_lzma(), "corrupt LZMA stream"),
    "truncated-deflate": (replace(plain("demo/_x.so", _SO), data=deflated(_SO)[:10]), "demo/_x.so"),
}


@pytest.mark.parametrize("case", sorted(MEMBERS))
@pytest.mark.parametrize("command", ["inspect", "check"])
def test_a_corrupt_member_is_nd002_with_its_reason(tmp_path: Path, case: str, command: str) -> None:
    member, reason = MEMBERS[case]
    wheel = write_zip(tmp_path / WHEEL, wheel_members("demo", [member]))
    run = cli(command, "--format", "json", wheel, cwd=tmp_path)
    assert run.code == 1
    found = codes(run)
    assert [m for m in found["ND002"] if "demo/_x.so" in m and reason in m], found
    assert "ND001" not in found  # the rest of the wheel was read


def test_a_name_that_is_not_utf8_although_flagged_so_is_nd001(tmp_path: Path) -> None:
    member = replace(plain("demo/_x.so", _SO), name=b"demo/_x\xff\xfe.so", flags=0x800)
    wheel = write_zip(tmp_path / WHEEL, wheel_members("demo", [member]))
    for command in ("inspect", "check"):
        run = cli(command, "--format", "json", wheel, cwd=tmp_path)
        assert run.code == 1
        assert any("not valid UTF-8" in m for m in codes(run)["ND001"])
    run = cli("deps", wheel, cwd=tmp_path)
    assert run.code == 2
    assert "not valid UTF-8" in run.stderr


@pytest.mark.parametrize(
    "target", ["demo-1.0.dist-info/METADATA", "demo/__init__.py"], ids=["metadata", "hook"]
)
@pytest.mark.parametrize("case", sorted(MEMBERS))
def test_corrupt_metadata_or_hook_is_nd001_naming_the_member(tmp_path: Path, case: str, target: str) -> None:
    member, reason = MEMBERS[case]
    bad = replace(member, name=target.encode())
    members = [m for m in wheel_members("demo", []) if m.name != bad.name] + [bad]
    wheel = write_zip(tmp_path / WHEEL, members)
    for command in ("inspect", "check"):
        run = cli(command, "--format", "json", wheel, cwd=tmp_path)
        assert run.code == 1
        assert any(target in m and reason.replace("demo/_x.so", target) in m for m in codes(run)["ND001"])
    if target.endswith("METADATA"):
        run = cli("deps", wheel, cwd=tmp_path)
        assert run.code == 2
        assert target in run.stderr and reason.replace("demo/_x.so", target) in run.stderr


@pytest.mark.parametrize("case", sorted(MEMBERS))
def test_a_corrupt_member_of_a_zip_sdist_is_an_input_error(tmp_path: Path, case: str) -> None:
    member, reason = MEMBERS[case]
    bad = replace(member, name=b"demo-1.0/pyproject.toml")
    sdist = write_zip(tmp_path / "demo-1.0.zip", [plain("demo-1.0/setup.py", b""), bad])
    for args in (("deps",), ("deps", "--infer")):
        run = cli(*args, sdist, cwd=tmp_path)
        assert run.code == 2
        assert "pyproject.toml" in run.stderr
        assert reason.replace("demo/_x.so", "pyproject.toml") in run.stderr


# --- issue 15 item 4: decompression bombs ------------------------------------------------------


def test_a_6_gib_member_named_like_a_library_is_stopped_by_the_budget(tmp_path: Path) -> None:
    bomb = zeros_deflated("demo/big.so", 6 << 30, head=ELF_HEADER)
    wheel = write_zip(tmp_path / WHEEL, wheel_members("demo", [bomb]))
    run = cli("check", "--format", "json", wheel, cwd=tmp_path)
    found = codes(run)
    assert any("demo/big.so" in m and "stopped reading" in m for m in found["ND003"]), found
    assert "ND001" not in found and "ND111" not in found  # a reader limit is never an error finding


def test_an_sdist_pyproject_of_1_gib_is_read_only_as_far_as_the_text_budget(tmp_path: Path) -> None:
    bomb = zeros_deflated("demo-1.0/pyproject.toml", 1 << 30)
    sdist = write_zip(tmp_path / "demo-1.0.zip", [plain("demo-1.0/PKG-INFO", b"Name: demo\n"), bomb])
    for args in (("deps",), ("deps", "--infer")):
        run = cli(*args, sdist, cwd=tmp_path)
        assert run.code == 2
        assert "pyproject.toml" in run.stderr


def test_a_tar_sdist_bomb_stops_at_the_inflation_budget(tmp_path: Path) -> None:
    import io
    import tarfile

    sdist = tmp_path / "demo-1.0.tar.xz"
    with tarfile.open(sdist, "w:xz", preset=1) as tar:  # xz: 2 GiB of zeros fit in a few hundred KB
        info = tarfile.TarInfo("demo-1.0/zeros.bin")
        info.size = 2 << 30
        tar.addfile(info, _Zeros(info.size))
        data = b"[project]\nname = 'demo'\n"
        info = tarfile.TarInfo("demo-1.0/pyproject.toml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    run = cli("deps", "--infer", sdist, cwd=tmp_path)
    assert run.code == 2
    assert "stopped reading" in run.stderr and "zeros.bin" in run.stderr


class _Zeros:
    """A file object of ``size`` zero bytes (for tarfile.addfile, without holding them)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        self.left -= count
        return bytes(count)


# --- issue 15 item 5: nothing reaches the terminal raw -----------------------------------------

HOSTILE_NAME = "demo/\x1b]0;pwned\x07\x1b[2J\nND201 forged line\u202eos.so"


def _hostile_name_wheel(tmp_path: Path) -> Path:
    member = plain(HOSTILE_NAME, ELF_HEADER + bytes(100))  # findings (ND302, ND112) name the member
    return write_zip(tmp_path / WHEEL, wheel_members("demo", [member]))


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_member_names_are_escaped_in_human_output(tmp_path: Path, fmt: str) -> None:
    wheel = _hostile_name_wheel(tmp_path)
    run = cli("check", "--format", fmt, wheel, cwd=tmp_path)
    assert run.code == 1
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in run.stdout
    assert "\\x1b]0;pwned\\x07" in run.stdout and "\\u202eos.so" in run.stdout
    assert not any(line.startswith("ND201 forged line") for line in run.stdout.splitlines())


HOSTILE_SONAME = "libx\x1b]0;pwned\x07\u202e.so"


def test_needed_library_names_are_escaped_in_human_output(tmp_path: Path) -> None:
    """A DT_NEEDED string (here the SONAME of a library linked at test time) reaches text and
    GitHub output only escaped, and JSON exactly."""
    gcc = require("gcc")
    (tmp_path / "l.c").write_text("int f(void) { return 1; }\n")
    (tmp_path / "e.c").write_text("extern int f(void);\nint g(void) { return f(); }\n")
    run_tool(
        gcc, "-shared", "-fPIC", f"-Wl,-soname,{HOSTILE_SONAME}", "-o", tmp_path / "libx.so", tmp_path / "l.c"
    )
    run_tool(
        gcc, "-shared", "-fPIC", "-o", tmp_path / "e.so", tmp_path / "e.c", f"-L{tmp_path}", "-l:libx.so"
    )
    extension = plain("demo/_e.cpython-311-x86_64-linux-gnu.so", (tmp_path / "e.so").read_bytes())
    wheel = write_zip(tmp_path / WHEEL, wheel_members("demo", [extension]))
    for fmt in ("text", "github"):
        run = cli("check", "--format", fmt, wheel, cwd=tmp_path)
        assert run.code == 1
        assert "\x1b" not in run.stdout and "\u202e" not in run.stdout
        assert "libx\\x1b]0;pwned\\x07\\u202e.so" in run.stdout
    run = cli("check", "--format", "json", wheel, cwd=tmp_path)
    assert any(HOSTILE_SONAME in m for m in codes(run)["ND201"])


def test_json_and_sarif_keep_the_exact_name(tmp_path: Path) -> None:
    wheel = _hostile_name_wheel(tmp_path)
    run = cli("check", "--format", "json", wheel, cwd=tmp_path)
    assert any(HOSTILE_NAME in m for messages in codes(run).values() for m in messages)
    run = cli("check", "--format", "sarif", wheel, cwd=tmp_path)
    assert any(HOSTILE_NAME in r["message"]["text"] for r in json.loads(run.stdout)["runs"][0]["results"])


def test_error_messages_are_escaped_and_capped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[external]\nhost-requires = ['dep:generic/\\u001b[2Jx\\u202e" + "a" * (50 << 20) + "@>=']\n"
    )
    run = cli("deps", tmp_path, cwd=tmp_path)
    assert run.code == 2
    assert "\x1b" not in run.stderr and "\u202e" not in run.stderr
    assert "invalid DepURL" in run.stderr and "more characters" in run.stderr
    assert len(run.stderr) < 10_000  # not the 50 MB DepURL, twice


# --- issue 15 item 6: deeply nested TOML --------------------------------------------------------


def test_deeply_nested_toml_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    run = cli("deps", tmp_path, cwd=tmp_path)
    assert run.code == 2
    assert "pyproject.toml" in run.stderr and "nested too deeply" in run.stderr
    wheel = write_zip(tmp_path / WHEEL, wheel_members("demo", []))
    run = cli("check", wheel, cwd=tmp_path)  # [tool.native-doctor] is read from ./pyproject.toml
    assert run.code == 2
    assert "pyproject.toml" in run.stderr and "nested too deeply" in run.stderr


# --- issue 15 item 8: option injection in deps --check ------------------------------------------


@pytest.mark.parametrize("text", ["dep:generic/--version", "dep:generic/-lfoo", "dep:github/-x/zlib"])
def test_a_depurl_name_starting_with_a_dash_is_refused(text: str) -> None:
    with pytest.raises(InvalidExternalMetadata, match="may not start with '-'"):
        parse_depurl(text)


def test_deps_check_refuses_an_option_as_a_name(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[external]\nhost-requires = ['dep:generic/--version']\n")
    run = cli("deps", "--check", tmp_path, cwd=tmp_path)
    assert run.code == 2
    assert "may not start with '-'" in run.stderr


def test_names_are_passed_after_a_double_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(args: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        seen.append(args)
        return subprocess.CompletedProcess(args, 1, "", "")

    monkeypatch.setattr(host.subprocess, "run", fake_run)
    probe = host.Probe()
    monkeypatch.setattr(probe, "which", lambda name: f"/usr/bin/{name}")
    probe.pkg_config_version("zlib")
    monkeypatch.setattr(probe, "package_manager", lambda: "dpkg")
    probe.package_installed("zlib1g")
    monkeypatch.setattr(probe, "package_manager", lambda: "rpm")
    probe.package_installed("zlib")
    assert seen and all(args[-2] == "--" for args in seen), seen


# --- issue 15 item 9: amplification -------------------------------------------------------------


def _many_members_wheel(tmp_path: Path, *, record: str | None = None) -> Path:
    wheel = tmp_path / "many-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
        for n in range(100_000):
            out.writestr(f"many/m{n:06d}.py", b"x = 1\n")
        out.writestr(
            "many-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        out.writestr("many-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: many\nVersion: 1.0\n")
        if record is not None:
            out.writestr("many-1.0.dist-info/RECORD", record)
    return wheel


def test_a_wheel_of_100000_members_is_read_in_bounded_memory(tmp_path: Path) -> None:
    wheel = _many_members_wheel(tmp_path)
    run = cli("inspect", "--format", "json", wheel, cwd=tmp_path)
    assert run.code == 0
    assert json.loads(run.stdout)["artifacts"][0]["name"] == "many"
    run = cli("check", wheel, cwd=tmp_path)
    assert run.code == 1  # ND110: no RECORD; one finding, not 100,000
    assert len(run.stdout) < 10_000


#: The SARIF case's cap: it took 375 MB (a result listing 100,002 locations) before the cap on
#: locations per result; about 95 MB after.
SARIF_MEMORY_CAP = 256 << 20


def test_one_cause_in_100000_members_is_one_sarif_result_with_capped_locations(tmp_path: Path) -> None:
    wheel = _many_members_wheel(tmp_path, record="many-1.0.dist-info/RECORD,,\n")
    run = cli("check", "--format", "sarif", wheel, cwd=tmp_path, memory=SARIF_MEMORY_CAP)
    assert run.code == 0, run.stderr  # ND112 (members not in RECORD) is a warning
    assert len(run.stdout) < 1_000_000  # 49 MB before the cap
    (result,) = json.loads(run.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "ND112"
    assert len(result["locations"]) == sarif.LOCATIONS_SHOWN
    assert result["properties"]["locationCount"] == 100_002
    assert result["properties"]["locationsOmitted"] == 100_002 - sarif.LOCATIONS_SHOWN
    run = cli("check", "--format", "json", wheel, cwd=tmp_path, memory=SARIF_MEMORY_CAP)
    (finding,) = json.loads(run.stdout)["findings"]
    assert len(finding["locations"]) == 100_002  # JSON stays complete


def test_the_builders_write_what_zipfile_reads(tmp_path: Path) -> None:
    """The hostile cases above differ from these well-formed ones only in what they corrupt."""
    members = [lzma_member("a.so", b"hello" * 100), plain("b.so", _SO), zeros_deflated("c.bin", 4 << 20)]
    with zipfile.ZipFile(write_zip(tmp_path / "ok.zip", members)) as archive:
        assert archive.read("a.so") == b"hello" * 100
        assert archive.read("b.so") == _SO
        assert archive.read("c.bin") == bytes(4 << 20)
