"""One finding per cause, end to end: a wheel whose many executables share one junk RUNPATH
(torch's CPU wheel had 207 such test executables) gives one finding in every output format."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from _toolchain import require, run
from _wheels import make_wheel
from native_doctor import cli
from native_doctor.report import sarif

SCHEMA = json.loads((Path(cli.__file__).parent / "report" / "schema.json").read_text())
WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
JUNK = "/home/runner/work/demo/build/lib"
COUNT = 207
MEMBERS = [f"demo/bin/test_{i:03d}" for i in range(COUNT)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``COUNT`` executables (one gcc build, copied), each with ``RUNPATH`` = ``JUNK``."""
    gcc = require("gcc")
    out = tmp_path_factory.mktemp("runpath")
    (out / "t.c").write_text("int main(void) { return 0; }\n")
    run(gcc, "-o", out / "t", out / "t.c", f"-Wl,--enable-new-dtags,-rpath,{JUNK}")
    data = (out / "t").read_bytes()
    members = {"demo/__init__.py": b"", **dict.fromkeys(MEMBERS, data)}
    return make_wheel(out, WHEEL, members)


def _check(capsys: pytest.CaptureFixture[str], wheel: Path, *options: str) -> str:
    assert cli.main(["check", str(wheel), "--no-config", "--select", "ND301", *options]) == 0
    return capsys.readouterr().out


def test_json_has_one_finding_with_every_location(capsys: pytest.CaptureFixture[str], wheel: Path) -> None:
    doc = json.loads(_check(capsys, wheel, "--format", "json"))
    jsonschema.validate(doc, SCHEMA)
    (finding,) = doc["findings"]
    assert finding["code"] == "ND301" and finding["detail"] == JUNK
    assert finding["member"] == MEMBERS[0]
    assert finding["locations"] == MEMBERS


def test_sarif_has_one_result_with_a_location_per_file(
    capsys: pytest.CaptureFixture[str], wheel: Path
) -> None:
    log = json.loads(_check(capsys, wheel, "--format", "sarif"))
    (result,) = log["runs"][0]["results"]
    names = [loc["logicalLocations"][0]["name"] for loc in result["locations"]]
    assert names == MEMBERS[: sarif.LOCATIONS_SHOWN]  # capped; the count says how many there were
    assert result["properties"]["locationCount"] == COUNT
    assert {loc["physicalLocation"]["artifactLocation"]["uri"] for loc in result["locations"]} == {
        wheel.as_uri()
    }


def test_github_has_one_annotation(capsys: pytest.CaptureFixture[str], wheel: Path) -> None:
    (line,) = _check(capsys, wheel, "--format", "github").splitlines()
    assert line.startswith("::warning ") and f"in {COUNT} files: {MEMBERS[0]}, " in line
    assert line.endswith(f"and {COUNT - 10} more")


def test_text_has_one_entry_listing_the_locations(capsys: pytest.CaptureFixture[str], wheel: Path) -> None:
    out = _check(capsys, wheel, "--color", "never")
    entries = [line for line in out.splitlines() if line.lstrip().startswith("ND301")]
    assert entries == [
        f"  ND301 rpath-leaves-wheel: {MEMBERS[0]} (and {COUNT - 1} more) has RUNPATH entry {JUNK!r} "
        "pointing outside the wheel: a home directory (a build checkout)"
    ]
    shown = ", ".join(MEMBERS[:5])
    assert f"    in {COUNT} files: {shown} and {COUNT - 5} more" in out.splitlines()
    assert out.rstrip().endswith("1 warning in 1 wheel")


#: torch 2.13.0+cpu: 69 test programs under torch/bin share one RUNPATH of three junk entries
#: (from MKL's CMake files); the check used to say so 207 times.
TORCH_RUNPATH = ("/lib/intel64", "/lib/intel64_win", "/lib/win-x64")
TORCH_PROGRAMS = [f"torch/bin/test_{i:02d}" for i in range(69)]


@pytest.fixture(scope="module")
def torch_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = require("gcc")
    out = tmp_path_factory.mktemp("torch-like")
    (out / "t.c").write_text("int main(void) { return 0; }\n")
    run(gcc, "-o", out / "t", out / "t.c", f"-Wl,--enable-new-dtags,-rpath,{':'.join(TORCH_RUNPATH)}")
    members = {"torch/__init__.py": b"", **dict.fromkeys(TORCH_PROGRAMS, (out / "t").read_bytes())}
    return make_wheel(out, "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", members)


def test_one_runpath_of_several_entries_in_many_files_is_one_finding(
    capsys: pytest.CaptureFixture[str], torch_like: Path
) -> None:
    doc = json.loads(_check(capsys, torch_like, "--format", "json"))
    (finding,) = doc["findings"]
    assert finding["detail"] == ", ".join(TORCH_RUNPATH)
    assert finding["locations"] == TORCH_PROGRAMS
    quoted = ", ".join(repr(entry) for entry in TORCH_RUNPATH)
    assert finding["message"] == (
        f"{TORCH_PROGRAMS[0]} (and 68 more) has RUNPATH entry {quoted} pointing outside the wheel: "
        "an absolute path outside the wheel"
    )
