"""The command line end to end: exit codes, formats, output files, errors without tracebacks."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from _wheels import make_wheel
from native_doctor import __version__, cli
from native_doctor.checks.registry import all_checks
from native_doctor.report.json_report import SCHEMA_VERSION

SCHEMA = json.loads((Path(cli.__file__).parent / "report" / "schema.json").read_text())
WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = cli.main([*argv, "--format", "json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    return code, doc


@pytest.fixture
def good_wheel(tmp_path: Path, demo_wheel_members: dict[str, bytes]) -> Path:
    return make_wheel(tmp_path, WHEEL, demo_wheel_members)


@pytest.fixture
def broken_wheel(tmp_path: Path, demo_wheel_members: dict[str, bytes]) -> Path:
    """The library is missing: the extension's dependency is external."""
    members = {k: v for k, v in demo_wheel_members.items() if not k.startswith("demo.libs/")}
    return make_wheel(tmp_path, WHEEL, members)


def test_inspect_json_carries_the_contract(capsys: pytest.CaptureFixture[str], good_wheel: Path) -> None:
    code, doc = run_json(capsys, "inspect", str(good_wheel))
    assert code == 0
    assert doc["schema_version"] == SCHEMA_VERSION
    [artifact] = doc["artifacts"]  # type: ignore[misc]
    assert artifact["kind"] == "wheel"
    assert artifact["claimed_tags"] == ["cp311-cp311-manylinux_2_17_x86_64"]
    assert artifact["platform"]["os"] == "linux"
    assert artifact["platform"]["qualifies_for"][0].startswith("manylinux_2_")
    assert artifact["external_libraries"] == []
    ext = next(b for b in artifact["binaries"] if b["path"].endswith("_ext.cpython-311-x86_64-linux-gnu.so"))
    assert ext["format"] == "elf" and ext["arch"] == "x86_64"
    assert ext["needed"][0] == "libdep.so.1"
    dep = ext["dependencies"][0]
    assert dep == {
        "name": "libdep.so.1",
        "resolution": "bundled",
        "member": "demo.libs/libdep.so.1",
        "via": "RPATH $ORIGIN/../demo.libs",
        "lazy": False,
    }
    assert "libc.so.6" in ext["symbol_versions"]
    assert doc["findings"] == []


def test_inspect_external_library_is_a_finding(
    capsys: pytest.CaptureFixture[str], broken_wheel: Path
) -> None:
    code, doc = run_json(capsys, "inspect", str(broken_wheel))
    assert code == 1
    [artifact] = doc["artifacts"]  # type: ignore[misc]
    assert artifact["external_libraries"] == ["libdep.so.1"]
    assert artifact["platform"]["qualifies_for"] == ["linux_x86_64"]
    [finding] = doc["findings"]  # type: ignore[misc]
    assert finding["code"] == "ND201" and finding["detail"] == "libdep.so.1"
    assert finding["url"].endswith("#nd201-external-library")


def test_exit_zero_and_fail_on(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    assert cli.main(["inspect", str(broken_wheel), "--exit-zero"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        pytest.param(b"this is not a zip", WHEEL, id="not-a-zip"),
        pytest.param(b"PK\x05\x06" + bytes(18), WHEEL, id="empty-zip-no-dist-info"),
        pytest.param(b"whatever", "not-a-wheel-name.whl", id="bad-file-name"),
    ],
)
def test_unreadable_wheel_is_a_finding_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, doc = run_json(capsys, "inspect", str(path))
    assert code == 1
    assert doc["artifacts"] == []
    [finding] = doc["findings"]  # type: ignore[misc]
    assert finding["code"] == "ND001"


def test_truncated_binary_is_a_finding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, elf_pair: dict[str, bytes]
) -> None:
    wheel = make_wheel(tmp_path, WHEEL, {"demo/_ext.so": elf_pair["_ext.so"][:100]})
    code, doc = run_json(capsys, "inspect", str(wheel))
    assert code == 1
    [finding] = doc["findings"]  # type: ignore[misc]
    assert finding["code"] == "ND002" and finding["member"] == "demo/_ext.so"


def test_pure_wheel_is_clean(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "pure-1.0-py3-none-any.whl", {"pure/__init__.py": b""}, root_is_purelib=True)
    code, doc = run_json(capsys, "inspect", str(wheel))
    assert code == 0
    [artifact] = doc["artifacts"]  # type: ignore[misc]
    assert artifact["binaries"] == [] and artifact["platform"]["qualifies_for"] == []


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["inspect", str(tmp_path / "nope.whl")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--format", "xml"], id="bad-format"),
        pytest.param(["inspect"], id="inspect-without-wheels"),
        pytest.param(["explain"], id="explain-without-check"),
        pytest.param(["explain", "ND999"], id="explain-unknown"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert cli.main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_internal_error_exits_3_with_a_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli._RUNNERS, "explain", boom)
    assert cli.main(["explain", "--all"]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "boom" in err


def test_output_file_is_written_atomically(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_wheel: Path
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    assert cli.main(["inspect", str(good_wheel), "--format", "json", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["schema_version"] == SCHEMA_VERSION
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.json.")] == []


def test_text_output_names_binaries_and_resolutions(
    capsys: pytest.CaptureFixture[str], broken_wheel: Path
) -> None:
    assert cli.main(["inspect", str(broken_wheel), "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert "demo/_ext.cpython-311-x86_64-linux-gnu.so" in out
    assert "external" in out and "libdep.so.1" in out
    assert "ND201" in out
    assert "\x1b[" not in out


@pytest.mark.parametrize("query", ["ND201", "nd201", "external-library"])
def test_explain_by_code_or_name(capsys: pytest.CaptureFixture[str], query: str) -> None:
    assert cli.main(["explain", query]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ND201 external-library")
    for heading in ("What it checks", "Why it matters", "How to fix"):
        assert heading in out


def test_explain_takes_the_codes_the_check_hint_names(capsys: pytest.CaptureFixture[str]) -> None:
    """The text report ends with ``native-doctor explain CODE CODE ...``: that command must work."""
    assert cli.main(["explain", "ND504", "ND206", "debug-info"]) == 0
    out = capsys.readouterr().out
    pages = [line.split()[0] for line in out.splitlines() if line[:2] == "ND" and "(" in line]
    assert pages == ["ND504", "ND206", "ND304"]
    assert cli.main(["explain", "ND504", "ND999"]) == 2


def test_explain_all_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--all", "--format", "json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert [c["code"] for c in checks] == sorted(c["code"] for c in checks)
    assert all(c["what"] and c["why"] and c["fix"] for c in checks)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("native-doctor ")


def test_default_job_examines_the_running_environment(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys)
    assert code in (0, 1)
    env = doc["environment"]
    assert isinstance(env, dict) and env["site_packages"]


@pytest.mark.parametrize(
    ("env", "colored"),
    [
        pytest.param({"FORCE_COLOR": "1"}, True, id="force-color"),
        pytest.param({"NO_COLOR": "1"}, False, id="no-color"),
        pytest.param({}, False, id="not-a-tty"),
    ],
)
def test_color_follows_the_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    broken_wheel: Path,
    env: dict[str, str],
    colored: bool,
) -> None:
    for name in ("FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli.main(["inspect", str(broken_wheel)])
    assert ("\x1b[" in capsys.readouterr().out) is colored


@pytest.mark.parametrize(
    ("make_target", "message"),
    [
        pytest.param(lambda tmp: tmp, "is a directory", id="target-is-a-directory"),
        pytest.param(lambda tmp: tmp / "missing" / "r.json", "does not exist", id="parent-missing"),
    ],
)
def test_unusable_output_is_a_usage_error_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_wheel: Path, make_target: object, message: str
) -> None:
    target = make_target(tmp_path)  # type: ignore[operator]
    assert cli.main(["inspect", str(good_wheel), "-o", str(target)]) == 2
    assert message in capsys.readouterr().err


def test_output_file_is_readable_by_others(
    tmp_path: Path, good_wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "r.json"
    assert cli.main(["inspect", str(good_wheel), "--format", "json", "-o", str(target)]) == 0
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_a_directory_is_not_a_wheel(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["inspect", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._RUNNERS, "explain", interrupted)
    assert cli.main(["explain", "--all"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_record_that_is_not_csv_is_a_finding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_wheel: Path
) -> None:
    import zipfile

    with zipfile.ZipFile(good_wheel) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    members["demo-1.0.dist-info/RECORD"] = b"demo/__init__.py,sha256=x\r,0\nx\n"
    broken = tmp_path / "out" / WHEEL
    broken.parent.mkdir()
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    code = cli.main(["check", str(broken), "--format", "json", "--no-config"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert code == 0  # ND112 is a warning
    assert any(f["code"] == "ND112" and "not valid CSV" in f["message"] for f in findings)


# --- CLI edges -----------------------------------------------------------------------------------


def _child(*argv: str) -> subprocess.Popen[bytes]:
    """native-doctor in a child process whose stdout is a pipe (closed by the caller)."""
    return subprocess.Popen(
        [sys.executable, "-m", "native_doctor", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["explain", "--all"], 0, id="explain-all"),
        pytest.param(["explain", "--all", "--format", "json"], 0, id="explain-all-json"),
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["inspect", "BROKEN"], 1, id="inspect-with-findings-keeps-its-exit-code"),
    ],
)
def test_a_closed_pipe_ends_quietly(broken_wheel: Path, argv: list[str], expected: int) -> None:
    """`native-doctor explain --all | head -1`: the reader is gone before anything is written."""
    child = _child(*(str(broken_wheel) if a == "BROKEN" else a for a in argv))
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # no reader: the first write fails with EPIPE
    with child.stderr:
        err = child.stderr.read().decode()
    assert child.wait(timeout=60) == expected
    assert err == ""


def test_head_reads_one_line_and_the_rest_is_dropped_quietly() -> None:
    proc = subprocess.run(
        f"{shlex.quote(sys.executable)} -m native_doctor explain --all --format json | head -1; "
        'echo "status=${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.splitlines() == ["[", "status=0"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_closed_pipe_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["explain", "--all"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        pytest.param("notes.txt", b"some notes\n", "", id="text-file"),
        pytest.param("demo-1.0.tar.gz", b"\x1f\x8b\x08\x00", "source distribution", id="sdist"),
        pytest.param("demo-1.0.zip", b"PK\x05\x06" + bytes(18), "source distribution", id="zip-sdist"),
    ],
)
def test_a_file_that_is_not_a_wheel_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_wheel: Path, name: str, content: bytes, hint: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for argv in (["inspect"], ["check", "--no-config"]):
        assert cli.main([*argv, str(good_wheel), str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}: not a wheel: expected a .whl file" in err and hint in err
        assert "Traceback" not in err


def test_a_corrupt_wheel_is_a_finding_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_wheel: Path
) -> None:
    corrupt = tmp_path / "corrupt" / WHEEL
    corrupt.parent.mkdir()
    corrupt.write_bytes(good_wheel.read_bytes()[:200])
    code = cli.main(["check", str(corrupt), str(good_wheel), "--no-config", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [a["path"] for a in doc["artifacts"]] == [str(good_wheel)]
    assert [(f["code"], f["artifact"]) for f in doc["findings"]] == [("ND001", str(corrupt))]


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert cli.main([flag]) == 0
    assert capsys.readouterr().out == f"native-doctor {__version__}\n"


def test_env_help_shows_env_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["env", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: native-doctor env ")
    assert "--path" in out and "--python" in out and "--runtime" in out
    assert "commands:" not in out  # the overview of every command is `native-doctor --help`
    assert cli.main(["--help"]) == 0
    assert "commands:" in capsys.readouterr().out


def test_explain_all_is_one_line_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    checks = all_checks()
    assert len(lines) == len(checks)
    for line, check in zip(lines, checks, strict=True):
        code, name, severity, summary = line.split(maxsplit=3)
        assert (code, name, severity) == (check.code, check.name, check.severity.value)
        assert summary.startswith(check.summary)


# --- text output -------------------------------------------------------------------------------


def test_text_with_several_wheels_names_each_findings_wheel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, broken_wheel: Path, elf_pair: dict[str, bytes]
) -> None:
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    truncated = {"other/_x.so": elf_pair["_ext.so"][:100]}
    other = make_wheel(other_dir, "other-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", truncated)
    pure = make_wheel(other_dir, "pure-1.0-py3-none-any.whl", {"pure/__init__.py": b""}, root_is_purelib=True)
    argv = ["check", str(broken_wheel), str(other), str(pure), "--no-config", "--color", "never"]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"  ND201 external-library ({broken_wheel.name}): ") for line in out)
    assert any(line.startswith(f"  ND002 unreadable-binary ({other.name}): ") for line in out)
    hint = next(line for line in out if line.startswith("why and how to fix: native-doctor explain "))
    codes = hint.split("explain ", 1)[1].split()
    listed = {line.split()[0] for line in out if line.startswith("  ND")}
    assert codes[:2] == ["ND002", "ND201"]  # the errors first, by code
    assert sorted(codes) == sorted(listed)  # then every other code, once
    assert out[-1].startswith("2 errors") and out[-1].endswith(" in 3 wheels")


def test_text_closes_with_a_verdict_line(capsys: pytest.CaptureFixture[str], good_wheel: Path) -> None:
    assert cli.main(["inspect", str(good_wheel), "--color", "never"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "no problems found in 1 wheel"
    assert not any("(demo-1.0" in line for line in out)  # one wheel: findings need not name it


def test_output_to_a_fifo_writes_through_and_keeps_the_fifo(good_wheel: Path, tmp_path: Path) -> None:
    """``-o /dev/null`` (or any non-regular file) is written through: an atomic rename over it
    would replace the device with a regular file (as root, /dev/null itself)."""
    import threading

    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert cli.main(["inspect", str(good_wheel), "--format", "json", "-o", str(fifo)]) == 0
    reader.join(timeout=30)
    assert fifo.is_fifo()
    assert json.loads(received[0])["schema_version"] == SCHEMA_VERSION


def test_output_to_dev_null_keeps_the_device(good_wheel: Path) -> None:
    devnull = Path(os.devnull)
    assert cli.main(["inspect", str(good_wheel), "--format", "json", "-o", str(devnull)]) == 0
    assert devnull.is_char_device()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["explain", "--all", "--format", "json"], 0, id="clean"),
        pytest.param(["inspect", "BROKEN", "--format", "json"], 1, id="findings"),
        pytest.param(["repair", "no-such.whl"], 2, id="usage-error"),
    ],
)
def test_the_console_entry_point_keeps_the_exit_code_and_the_whole_output(
    broken_wheel: Path, argv: list[str], expected: int
) -> None:
    """``entrypoint`` freezes the garbage collector before the interpreter shuts down (a faster
    exit): the exit code and every byte of the output still come through."""
    argv = [str(broken_wheel) if a == "BROKEN" else a for a in argv]
    done = subprocess.run([sys.executable, "-m", "native_doctor", *argv], capture_output=True, check=False)
    assert done.returncode == expected
    if expected != 2:
        json.loads(done.stdout)  # complete, flushed
