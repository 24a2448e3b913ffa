"""The whole-result cache of ``env``: a second run on an unchanged environment prints the kept
report without examining anything; any change it depends on, a corrupt or foreign cache file,
``--no-cache``, ``--runtime`` and ``--output`` make it run in full."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _envsite import add_loader_module, edit_in_place, install_demo
from native_doctor import cli, doctor
from native_doctor.sources.envresult import Inputs, _cpu_identity


@pytest.fixture
def site(tmp_path: Path, elf_pair: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NATIVE_DOCTOR_ENV_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site-packages"
    install_demo(site, elf_pair["_ext.so"])
    return site


class _Examinations:
    """Counts the runs that examined the environment (a replayed report examines nothing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = doctor.examine

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(doctor, "examine", counted)


def _run(site: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = cli.main(["env", "--path", str(site), "--format", "json", *extra])
    return code, capsys.readouterr().out


def _bump(path: Path) -> None:
    """A new modification time, as adding or removing a file gives its folder (set explicitly:
    two changes within one clock tick of the file system would share one)."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def test_a_second_run_prints_the_kept_report_without_examining(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Examinations(monkeypatch)
    first = _run(site, capsys)
    second = _run(site, capsys)
    assert runs.count == 1
    assert second == first and json.loads(first[1])["environment"]["site_packages"] == [str(site)]


@pytest.mark.parametrize(
    "change",
    ["native-file-rewritten", "file-added-to-a-folder", "metadata-edited", "new-distribution"],
)
def test_a_change_the_report_depends_on_runs_it_again(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    runs = _Examinations(monkeypatch)
    _run(site, capsys)
    native = site / "demo" / "_ext.cpython-311-x86_64-linux-gnu.so"
    if change == "native-file-rewritten":
        native.write_bytes(native.read_bytes() + b"\0")
    elif change == "file-added-to-a-folder":
        (site / "demo" / "libextra.so.1").write_bytes(b"\x7fELF")
        _bump(site / "demo")
    elif change == "metadata-edited":
        metadata = site / "demo-1.0.dist-info" / "METADATA"
        metadata.write_text(metadata.read_text().replace("1.0", "1.1") + "\n")
    else:
        other = site / "other-2.0.dist-info"
        other.mkdir()
        (other / "METADATA").write_text("Metadata-Version: 2.1\nName: other\nVersion: 2.0\n")
        _bump(site)
    _, output = _run(site, capsys)
    assert runs.count == 2
    if change == "new-distribution":
        assert json.loads(output)["environment"]["host"]["installers"] == {"pip": 1, "unknown": 1}


@pytest.mark.parametrize(
    "variation",
    [("--format", "sarif"), ("--fail-on", "info"), ("--verbose",)],
    ids=["another-format", "another-threshold", "verbose"],
)
def test_another_command_line_is_another_report(
    site: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variation: tuple[str, ...],
) -> None:
    runs = _Examinations(monkeypatch)
    _run(site, capsys)
    _run(site, capsys, *variation)
    assert runs.count == 2


def test_an_environment_variable_the_loader_reads_is_part_of_the_identity(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs = _Examinations(monkeypatch)
    _run(site, capsys)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    _run(site, capsys)
    assert runs.count == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"format": "native-doctor-env-result", "version": 999}',
        b'{"format": "something-else", "version": 1}',
        b"[]",
    ],
    ids=["corrupt", "other-version", "foreign", "not-an-object"],
)
def test_a_corrupt_or_foreign_result_file_is_ignored_and_rebuilt(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    first = _run(site, capsys)
    [kept] = (site.parent / "cache" / "results").glob("*.report")
    kept.write_bytes(content)
    runs = _Examinations(monkeypatch)
    assert _run(site, capsys) == first and runs.count == 1
    head, _, output = kept.read_bytes().partition(b"\n")
    assert json.loads(head)["format"] == "native-doctor-env-result"
    assert output.decode() == first[1]
    assert _run(site, capsys) == first and runs.count == 1


def test_a_tampered_state_is_a_miss(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(site, capsys)
    [kept] = (site.parent / "cache" / "results").glob("*.report")
    head, _, output = kept.read_text().partition("\n")
    document = json.loads(head)
    document["inputs"]["files"] = dict.fromkeys(document["inputs"]["files"], "0")
    kept.write_text(json.dumps(document) + "\n" + output)
    runs = _Examinations(monkeypatch)
    _run(site, capsys)
    assert runs.count == 1


@pytest.mark.parametrize("option", ["--no-cache", "--output"])
def test_no_cache_and_output_neither_read_nor_write_it(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    runs = _Examinations(monkeypatch)
    extra = [option] if option == "--no-cache" else [option, str(site.parent / "report.json")]
    _run(site, capsys, *extra)
    assert not (site.parent / "cache" / "results").exists()
    _run(site, capsys)
    _run(site, capsys, *extra)
    assert runs.count == 3


def test_the_text_report_is_kept_as_written(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Examinations(monkeypatch)
    first = cli.main(["env", "--path", str(site)]), capsys.readouterr().out
    second = cli.main(["env", "--path", str(site)]), capsys.readouterr().out
    assert second == first and runs.count == 1 and "verdict:" in first[1]


def test_the_cpu_identity_ignores_what_changes_between_reads() -> None:
    block = "processor\t: 0\nvendor_id\t: AMD\ncpu MHz\t\t: {}\nflags\t\t: fpu sse2\n\nprocessor\t: 1\n"
    fast, slow = (_cpu_identity(block.format(mhz).encode()) for mhz in ("2994.3", "1500.0"))
    assert fast == slow and b"fpu sse2" in fast and b"MHz" not in fast


def test_inputs_round_trip_and_notice_a_change(tmp_path: Path) -> None:
    folder, file = tmp_path / "folder", tmp_path / "file"
    folder.mkdir()
    file.write_bytes(b"one")
    inputs = Inputs()
    inputs.folder(str(folder))
    inputs.folder(str(tmp_path / "missing"))
    inputs.file(str(file))
    restored = Inputs.from_json(json.loads(json.dumps(inputs.to_json())))
    assert restored is not None and restored.unchanged()
    (tmp_path / "missing").mkdir()  # appearing is a change too
    assert not restored.unchanged()
    assert Inputs.from_json({"folders": {"x": "not a time"}, "files": {}, "contents": {}}) is None


def test_an_upgraded_library_is_another_identity(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from native_doctor.sources import envresult

    runs = _Examinations(monkeypatch)
    _run(site, capsys)
    monkeypatch.setattr(envresult, "_libraries", lambda: [["rich", "another version"]])
    _run(site, capsys)
    assert runs.count == 2


@pytest.mark.parametrize(
    ("options", "used"),
    [
        ({"no_cache": False, "runtime": False, "output": None}, True),
        ({"no_cache": True, "runtime": False, "output": None}, False),
        ({"no_cache": False, "runtime": True, "output": None}, False),
        ({"no_cache": False, "runtime": False, "output": Path("report.json")}, False),
    ],
    ids=["default", "no-cache", "runtime", "output"],
)
def test_which_runs_keep_a_report(options: dict[str, object], used: bool, tmp_path: Path) -> None:
    from native_doctor.sources.envresult import for_run

    assert (for_run(options, [str(tmp_path)]) is not None) is used


def test_jobs_is_not_part_of_the_identity(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is the same for any number of processes: another ``--jobs`` replays it."""
    runs = _Examinations(monkeypatch)
    first = _run(site, capsys, "--jobs", "1")
    assert _run(site, capsys, "--jobs", "2") == first
    assert runs.count == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_python_file_edited_in_place_runs_it_again(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    """A user fixes ``ctypes.CDLL("libfoo.so")`` and reruns: not the stale verdict (the folder's
    modification time does not change when a file is edited in place)."""
    module = add_loader_module(site, "libfoo.so")
    runs = _Examinations(monkeypatch)
    _, first = _run(site, capsys, "--jobs", jobs)
    assert "libfoo.so" in first
    edit_in_place(module, "libfoo.so", "libbar.so")  # same size
    _, second = _run(site, capsys, "--jobs", jobs)
    assert runs.count == 2
    assert "libbar.so" in second and "libfoo.so" not in second


def test_jobs_write_the_same_caches(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With ``--jobs 2`` the caches are saved while a child encodes the report: the same files as
    one process writes (the identity aside: it names the cache folder, an environment
    variable)."""
    add_loader_module(site, "libfoo.so")
    kept: dict[str, tuple[object, ...]] = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"cache-{jobs}"
        monkeypatch.setenv("NATIVE_DOCTOR_ENV_CACHE", str(folder))
        _run(site, capsys, "--jobs", jobs)
        [scan] = folder.glob("*.json")
        [report] = (folder / "results").glob("*.report")
        head, _, output = report.read_bytes().partition(b"\n")
        document = json.loads(head)
        del document["identity"]
        kept[jobs] = (scan.read_bytes(), document, output)
    assert kept["1"] == kept["2"]


@pytest.mark.parametrize(
    "output",
    ["", "plain\n", "é ü\r\n{}\n", "lone \udcff surrogate\n"],
    ids=["empty", "ascii", "utf-8", "surrogate"],
)
def test_the_kept_report_is_printed_as_it_was_written(tmp_path: Path, output: str) -> None:
    from native_doctor.sources.envresult import ResultCache

    cache = ResultCache([str(tmp_path)], "identity", directory=tmp_path / "cache")
    cache.store(1, output, Inputs())
    assert cache.replay() == (1, output)
    assert ResultCache([str(tmp_path)], "another", directory=tmp_path / "cache").replay() is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.booleans())
def test_any_kept_report_file_replays_or_is_a_miss(tmp_path: Path, content: bytes, with_head: bool) -> None:
    """Whatever bytes the file holds after a valid head line or instead of one: the kept report
    when they are one, else a miss; never an exception."""
    from native_doctor.sources.envresult import ResultCache

    cache = ResultCache([str(tmp_path)], "identity", directory=tmp_path / "fuzz")
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    head = b'{"format":"native-doctor-env-result","version":3,"identity":"identity","exit":1,'
    cache.path.write_bytes(
        (head + b'"inputs":{"folders":{},"files":{},"links":{},"contents":{}}}\n' if with_head else b"")
        + content
    )
    found = cache.replay()
    assert found is None or (isinstance(found[0], int) and isinstance(found[1], str))
    if with_head:
        try:
            expected: tuple[int, str] | None = (1, content.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            expected = None  # not what a report is written as: a miss
        assert found == expected
