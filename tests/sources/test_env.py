"""Reading an installed environment through RECORD, and resolving across distributions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _envsite import add_varied_distributions, install
from native_doctor import cli
from native_doctor.analysis import inspect_artifact
from native_doctor.model import ArtifactKind, Resolution
from native_doctor.platforms.loader import FileIndex
from native_doctor.sources.env import host_libraries, read_environment


@pytest.fixture
def site(tmp_path: Path, elf_pair: dict[str, bytes]) -> Path:
    """``app`` needs ``libdep.so.1``, which the separate ``deplib`` distribution installs; ``lonely``
    needs it too but has no search path that reaches it."""
    site = tmp_path / "site-packages"
    install(site, "deplib", {"demo.libs/libdep.so.1": elf_pair["libdep.so.1"]})
    install(site, "app", {"demo/__init__.py": b"", "demo/_ext.so": elf_pair["_ext.so"]})
    install(site, "lonely", {"lonely/sub/_ext.so": elf_pair["_ext.so"]})  # RPATH lands in lonely/
    install(site, "pure", {"pure/__init__.py": b""}, tag="py3-none-any")
    return site


def test_distributions_are_read_through_record(site: Path) -> None:
    environment = read_environment(site)
    names = [d.name for d in environment.distributions]
    assert names == ["app", "deplib", "lonely", "pure"]
    app = environment.distributions[0]
    assert app.kind is ArtifactKind.DISTRIBUTION
    assert app.installer == "pip"
    assert [n.path for n in app.native] == ["demo/_ext.so"]
    assert environment.distributions[3].native == ()


def test_dependencies_resolve_across_distributions_and_the_host(site: Path) -> None:
    environment = read_environment(site)
    index = FileIndex([n for d in environment.distributions for n in d.native])
    host = host_libraries()
    by_name = {
        d.name: inspect_artifact(d, index=index, host_libraries=host) for d in environment.distributions
    }
    [app_ext] = by_name["app"].binaries
    deps = {d.name: d for d in app_ext.dependencies}
    assert deps["libdep.so.1"].resolution is Resolution.BUNDLED
    assert deps["libdep.so.1"].member == "demo.libs/libdep.so.1"
    assert deps["libc.so.6"].resolution is Resolution.SYSTEM
    assert "found on this host" in deps["libc.so.6"].via
    assert by_name["lonely"].external_libraries == ("libdep.so.1",)


def test_env_command_on_a_site_packages_directory(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--path", str(site), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # lonely's import will fail: the loader finds no libdep.so.1 for it
    assert [a["name"] for a in doc["artifacts"]] == ["app", "deplib", "lonely"]
    failures = [f for f in doc["findings"] if f["code"] == "ND701"]
    assert len(failures) == 1  # only lonely: app finds libdep.so.1 through its RPATH into deplib's files
    assert "libdep.so.1" in failures[0]["message"] and failures[0]["artifact"].endswith(
        "lonely-1.0.dist-info"
    )
    assert {f["code"] for f in doc["findings"]} <= {"ND701", "ND706"}  # ND706: tagged linux_x86_64
    assert doc["environment"]["site_packages"] == [str(site)]


def test_record_entries_that_vanished_are_skipped(site: Path) -> None:
    (site / "demo" / "_ext.so").unlink()
    environment = read_environment(site)
    assert next(d for d in environment.distributions if d.name == "app").native == ()


def test_env_path_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--path", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_native_files_in_no_record_are_read_too(site: Path, elf_pair: dict[str, bytes]) -> None:
    """``.egg-info`` installs and hand-copied files have no RECORD: still native code in the process."""
    from native_doctor.sources.env import UNOWNED

    (site / "stray").mkdir()
    (site / "stray" / "_old.cpython-311-x86_64-linux-gnu.so").write_bytes(elf_pair["_ext.so"])
    environment = read_environment(site)
    unowned = environment.distributions[-1]
    assert unowned.name == UNOWNED
    assert [n.path for n in unowned.native] == ["stray/_old.cpython-311-x86_64-linux-gnu.so"]


@pytest.mark.parametrize("fmt", ["sarif", "github"])
def test_env_command_speaks_the_ci_formats(site: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    assert cli.main(["--path", str(site), "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert "ND701" in out


def test_site_directories_follow_sys_path_and_keep_only_those_with_distributions(tmp_path: Path) -> None:
    from native_doctor.sources.env import site_directories

    scheme, debian, user, plain = (tmp_path / n for n in ("site-packages", "dist-packages", "user", "stdlib"))
    for directory in (scheme, debian, user, plain):
        directory.mkdir()
    (debian / "six-1.16.0.dist-info").mkdir()
    (user / "attrs-23.1.0.dist-info").mkdir()
    path = ["", str(plain), str(debian), str(tmp_path / "gone"), str(user), str(scheme)]
    assert site_directories([str(scheme)], path) == [scheme, debian, user]


def test_env_header_names_the_examined_folder_and_ends_with_a_verdict(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["env", "--path", str(site), "--color", "never"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"examined folder(s): {site} ")
    assert out.rstrip().splitlines()[-1].startswith("verdict: ")


@pytest.mark.parametrize(
    ("site", "root"),
    [
        ("/venv/lib/python3.12/site-packages", "/venv"),
        ("/usr/lib/python3/dist-packages", "/usr"),
        ("/usr/local/lib/python3.11/dist-packages", "/usr/local"),
        ("/opt/conda/Lib/site-packages", "/opt/conda"),
        ("/data/site-packages", "/data/site-packages"),
    ],
)
def test_tree_root_is_the_installation_prefix(site: str, root: str) -> None:
    from native_doctor.sources.env import tree_root

    assert tree_root(Path(site)) == Path(root)


def test_the_unowned_walk_is_os_walk_with_listings_reused(tmp_path: Path) -> None:
    """Same folders, files and order as os.walk (top-down, links to folders not followed, pruned
    folders skipped), whether a folder's listing is reused or made."""
    import os
    from collections.abc import Iterable

    from native_doctor.sources.env import _Listing, _may_be_library, _split, _walk

    top = tmp_path / "site"
    for folder in ("a/b/c", "a/d", "e", "skip/inner"):
        (top / folder).mkdir(parents=True)
    for file in ("x.so", "a/y.so.1", "a/b/c/z.py", "e/w.txt", "skip/inner/v.so"):
        (top / file).write_bytes(b"")
    (top / "link").symlink_to(top / "a", target_is_directory=True)
    (top / "dangling").symlink_to(top / "missing")

    def collect(walk: Iterable[tuple[str, list[str], list[str]]]) -> list[tuple[str, list[str], list[str]]]:
        seen = []
        for root, dirs, files in walk:
            dirs[:] = [d for d in dirs if d != "skip"]
            seen.append((root, sorted(dirs), sorted(files)))
        return seen

    expected = collect(os.walk(str(top)))
    assert collect(_walk(str(top), {})) == expected
    with os.scandir(top / "a") as entries:
        listings: dict[str, _Listing] = {str(top / "a"): {e.name: e for e in entries}}
    assert collect(_walk(str(top), listings)) == expected
    # A child's listings, split into folders, other entries that may be libraries, and links (what
    # it sends back): the same walk but for the files no library can be.
    for folder in (top, top / "a"):
        with os.scandir(folder) as entries:
            listings[str(folder)] = _split({e.name: e for e in entries})
    assert listings[str(top)][1:] == (["x.so"], ["link"])
    split = {str(top), str(top / "a")}
    assert collect(_walk(str(top), listings)) == [
        (root, dirs, [f for f in files if root not in split or _may_be_library(f)])
        for root, dirs, files in expected
    ]
    assert ("link" in expected[0][1]) and all(root != str(top / "link") for root, _, _ in expected)


@pytest.fixture
def varied_site(site: Path, elf_pair: dict[str, bytes]) -> Path:
    add_varied_distributions(site, elf_pair)
    return site


@pytest.mark.parametrize("jobs", [2, 3, 16])
def test_jobs_give_the_same_report_as_one_process(
    varied_site: Path, capsys: pytest.CaptureFixture[str], jobs: int
) -> None:
    from native_doctor.sources.env import UNOWNED

    reports = []
    for count in (1, jobs):
        code = cli.main(["--path", str(varied_site), "--format", "json", "--no-cache", "--jobs", str(count)])
        reports.append((code, capsys.readouterr().out))
    assert reports[0] == reports[1]
    document = json.loads(reports[0][1])
    assert {"app", "loader", UNOWNED} <= {a["name"] for a in document["artifacts"]}
    assert "libnot-here-anywhere.so.9" in reports[0][1]  # the load-by-name call was found
    assert "loader/gone.py" in reports[0][1]  # and the file RECORD lists that is gone


def test_the_json_report_encoded_beside_the_checks_is_the_same(
    varied_site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more than one job most of the report's artifacts are encoded by a child while the
    checks run; a child that fails leaves the report as one process writes it."""
    import os

    from native_doctor.report import json_report

    monkeypatch.setattr(cli, "_MIN_FORKED_BINARIES", 0)  # a child even for these few binaries
    argv = ["--path", str(varied_site), "--format", "json", "--no-cache"]
    reports = []
    for jobs in ("1", "2"):
        reports.append((cli.main([*argv, "--jobs", jobs]), capsys.readouterr().out))
    parent, real = os.getpid(), json_report.element
    here: list[object] = []

    def fails_in_a_child(value: object) -> str:
        if os.getpid() != parent:
            raise RuntimeError("boom")
        here.append(value)
        return real(value)

    monkeypatch.setattr(json_report, "element", fails_in_a_child)
    reports.append((cli.main([*argv, "--jobs", "2"]), capsys.readouterr().out))
    assert reports[0] == reports[1] == reports[2]
    artifacts = json.loads(reports[0][1])["artifacts"]
    assert artifacts and len(here) == len(artifacts)  # the child's share redone here, the rest too


def _read_with_cache(site: Path, folder: Path, jobs: int) -> tuple[object, ...]:
    from native_doctor.sources.envcache import EnvCache
    from native_doctor.sources.envresult import Inputs

    cache = EnvCache(site, directory=folder)
    cache.inputs = Inputs()
    cache.inputs.folder(str(site))  # recorded before the read: kept first
    environment = read_environment(site, cache=cache, jobs=jobs)
    cache.save()
    inputs = cache.inputs
    return (
        environment.distributions,
        environment.states,
        environment.unreadable,
        (cache.hits, cache.misses),
        list(inputs.folders.items()),  # in order: as a serial read records them
        list(inputs.files.items()),
        cache.path.read_bytes(),  # the scan cache written, byte for byte
    )


def test_jobs_record_the_same_cache_entries_and_inputs_in_the_same_order(
    varied_site: Path, tmp_path: Path
) -> None:
    serial = _read_with_cache(varied_site, tmp_path / "one", 1)
    assert _read_with_cache(varied_site, tmp_path / "two", 2) == serial
    assert _read_with_cache(varied_site, tmp_path / "two", 2)[:3] == serial[:3]  # warm: from the cache


def test_the_order_distributions_are_read_in_does_not_matter(
    varied_site: Path, tmp_path: Path, elf_pair: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each distribution records its cache entries and inputs on its own, whichever process reads
    it and when: read last to first (as this process reads its part), with two RECORDs that list
    the same native file (one cache entry used by both), the same entries, inputs and scan cache
    file as a serial read."""
    from native_doctor.sources import env

    for name in ("shared_a", "shared_b"):
        install(varied_site, name, {"shared/_ext.so": elf_pair["_ext.so"]})
    serial = _read_with_cache(varied_site, tmp_path / "one", 1)

    def backwards(work, count, valid, **kwargs):  # type: ignore[no-untyped-def]
        found = {index: work(index) for index in reversed(range(count))}
        return [found[index] for index in range(count)]

    monkeypatch.setattr(env, "share_items", backwards)
    found = _read_with_cache(varied_site, tmp_path / "two", 2)
    # The counts alone may differ: a distribution reading on its own does not see the entry the
    # other put in this run (one more miss, the file read twice); what is kept is the same.
    assert found[:3] == serial[:3] and found[4:] == serial[4:]
    assert found[3] in (serial[3], (serial[3][0] - 1, serial[3][1] + 1))


def test_a_child_that_fails_leaves_the_result_unchanged(
    varied_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from native_doctor.sources import env

    serial = _read_with_cache(varied_site, tmp_path / "one", 1)
    parent, real = os.getpid(), env._read_distribution

    def dies_in_a_child(*args: object, **kwargs: object) -> object:
        if os.getpid() != parent:
            os._exit(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(env, "_read_distribution", dies_in_a_child)
    assert _read_with_cache(varied_site, tmp_path / "two", 2)[:4] == serial[:4]


def test_jobs_must_be_a_positive_number(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--path", str(site), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_readers_are_imported_before_forking_only_while_another_thread_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import threading

    from native_doctor import binary
    from native_doctor.sources import env

    for name in ("macho", "pe"):  # as if never imported (both restored afterwards)
        monkeypatch.delitem(sys.modules, f"native_doctor.binary.{name}", raising=False)
        monkeypatch.delattr(binary, name, raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    env._preload()
    assert "native_doctor.binary.pe" not in sys.modules  # no thread: the children import what they meet
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    env._preload()
    assert {"native_doctor.binary.macho", "native_doctor.binary.pe"} <= set(sys.modules)
