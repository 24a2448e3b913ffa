"""The environment scan cache: keyed by (path, size, mtime, inode); corrupt or foreign caches are
ignored and rebuilt; ``--no-cache`` neither reads nor writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _envsite import add_loader_module, edit_in_place, install_demo
from native_doctor.binary import BytesSource, read_binary
from native_doctor.sources.env import read_environment
from native_doctor.sources.envcache import EnvCache, binary_from_json, binary_to_json


@pytest.fixture
def site(tmp_path: Path, elf_pair: dict[str, bytes]) -> Path:
    site = tmp_path / "site-packages"
    install_demo(site, elf_pair["_ext.so"])
    return site


def _scan(site: Path, folder: Path, *, enabled: bool = True) -> EnvCache:
    cache = EnvCache(site, directory=folder, enabled=enabled)
    read_environment(site, cache=cache)
    cache.save()
    return cache


def test_binary_info_round_trips_through_json(elf_pair: dict[str, bytes]) -> None:
    info = read_binary(BytesSource(elf_pair["_ext.so"]))
    assert binary_from_json(json.loads(json.dumps(binary_to_json(info)))) == info


def test_every_field_round_trips_through_json_defaults_left_out() -> None:
    import dataclasses
    from types import MappingProxyType

    from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind

    thin = BinaryInfo(
        format=BinaryFormat.ELF,
        arch="x86_64",
        bits=64,
        byteorder="little",
        kind=FileKind.SHARED_LIBRARY,
        needed=("libc.so.6",),
        symbol_versions=MappingProxyType({"libc.so.6": ("GLIBC_2.14",)}),
        weak_symbol_versions=MappingProxyType({"libc.so.6": ("GLIBC_2.34",)}),
        executable_stack=False,
    )
    fat = dataclasses.replace(thin, format=BinaryFormat.MACHO, arch="universal2", slices=(thin,))
    for info in (thin, fat):
        assert binary_from_json(json.loads(json.dumps(binary_to_json(info)))) == info
    data = binary_to_json(thin)
    assert "soname" not in data and "needed" in data  # a default is left out
    assert data["executable_stack"] is False  # not the default (None)


def test_second_scan_hits_and_a_changed_file_misses(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = _scan(site, folder)
    assert first.hits == 0 and first.misses >= 1 and first.path.is_file()
    second = _scan(site, folder)
    assert second.hits >= 1 and second.misses == 0
    native = site / "demo" / "_ext.cpython-311-x86_64-linux-gnu.so"
    native.write_bytes(native.read_bytes() + b"\0")  # new size and mtime
    third = _scan(site, folder)
    assert third.misses >= 1


def test_a_scan_that_learns_nothing_leaves_the_cache_file_alone(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = _scan(site, folder)
    before = first.path.read_bytes()
    second = _scan(site, folder)  # reuses the whole distribution: asks for none of its files
    # Unchanged: the entries of the reused distribution's files are still there (rewriting the
    # file without them would mean reading every one of its files again after any change in it).
    assert second.misses == 0 and second.path.read_bytes() == before


def test_a_deleted_file_invalidates_the_cached_distribution(site: Path, tmp_path: Path) -> None:
    """Removing a file changes its folder's modification time: the distribution is read again."""
    folder = tmp_path / "cache"
    _scan(site, folder)
    (site / "demo" / "_ext.cpython-311-x86_64-linux-gnu.so").unlink()
    [state] = read_environment(site, cache=EnvCache(site, directory=folder)).states
    assert state.missing == ("demo/_ext.cpython-311-x86_64-linux-gnu.so",)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"format": "native-doctor-env-cache", "version": 999, "entries": {}}',
        b'{"format": "something-else", "entries": {"x": {}}}',
        b"[1, 2, 3]",
        b"[" * 100_000,
    ],
    ids=["garbage", "other-version", "foreign", "not-an-object", "deeply-nested"],
)
def test_a_corrupt_or_foreign_cache_is_ignored_and_rebuilt(
    site: Path, tmp_path: Path, content: bytes
) -> None:
    folder = tmp_path / "cache"
    path = _scan(site, folder).path
    path.write_bytes(content)
    again = _scan(site, folder)
    assert again.hits == 0 and again.misses >= 1
    assert json.loads(path.read_text())["format"] == "native-doctor-env-cache"


def test_a_corrupt_entry_is_read_again(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    path = _scan(site, folder).path
    document = json.loads(path.read_text())
    for entry in document["entries"].values():
        entry["native"] = {"size": 1, "info": {"format": "no-such-format"}}
        for item in entry.get("artifact", {}).get("native", []):
            item["info"] = {"format": "no-such-format"}
    path.write_text(json.dumps(document))
    environment = read_environment(site, cache=EnvCache(site, directory=folder))
    [dist] = environment.distributions
    assert dist.native[0].info is not None and dist.native[0].info.format.value == "elf"


def test_no_cache_neither_reads_nor_writes(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = _scan(site, folder, enabled=False)
    assert not folder.exists() and cache.hits == cache.misses == 0


def test_the_env_command_uses_the_cache_folder_and_no_cache_skips_it(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from native_doctor import cli

    folder = tmp_path / "env-cache"
    monkeypatch.setenv("NATIVE_DOCTOR_ENV_CACHE", str(folder))
    cli.main(["env", "--path", str(site), "--format", "json", "--no-cache"])
    assert not folder.exists()
    cli.main(["env", "--path", str(site), "--format", "json"])
    assert len(list(folder.glob("*.json"))) == 1


@pytest.mark.parametrize("new", ["libbar.so", "libfoo-fixed.so"], ids=["same-size", "other-size"])
def test_a_python_file_edited_in_place_is_read_again(site: Path, tmp_path: Path, new: str) -> None:
    """The distribution-level entry holds while folders and native files are unchanged; a Python
    file edited in place changes neither, so its own state is part of the entry too."""
    module = add_loader_module(site, "libfoo.so")
    folder = tmp_path / "cache"

    def names() -> list[str]:
        cache = EnvCache(site, directory=folder)
        environment = read_environment(site, cache=cache)
        cache.save()
        return [name for state in environment.states for call in state.load_calls for name in call.names]

    assert names() == ["libfoo.so"]
    assert names() == ["libfoo.so"]  # from the cache: the whole distribution reused
    edit_in_place(module, "libfoo.so", new)
    assert names() == [new]


@pytest.mark.parametrize("change", ["edit-one-file", "add-a-file"])
def test_a_changed_distribution_screens_only_its_changed_python_files_again(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The distribution's entry no longer holds, but the Python files it screened are taken from
    it while their own state is unchanged: only the edited one is read and screened again."""
    from native_doctor.sources import env

    module = add_loader_module(site, "libfoo.so")
    other = site / "demo" / "helpers.py"
    other.write_text('import ctypes\nctypes.CDLL("libhelper.so.1")\n')
    record = site / "demo-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "demo/helpers.py,,\n")
    folder = tmp_path / "cache"
    _scan(site, folder)
    if change == "edit-one-file":
        edit_in_place(module, "libfoo.so", "libbar.so")
    else:
        (site / "demo" / "new.py").write_text("x = 1\n")  # not in RECORD: the folder changed
    screened: list[str] = []
    real = env.scan_source

    def counting(text: bytes, path: str) -> list[env.LoadCall]:
        screened.append(path)
        return real(text, path)

    monkeypatch.setattr(env, "scan_source", counting)
    read: list[str] = []
    monkeypatch.setattr(env, "_read_native", lambda full, path: read.append(path))
    cache = EnvCache(site, directory=folder)
    environment = read_environment(site, cache=cache)
    names = sorted(name for state in environment.states for call in state.load_calls for name in call.names)
    new = "libbar.so" if change == "edit-one-file" else "libfoo.so"
    assert names == sorted([new, "libhelper.so.1"])
    assert screened == (["demo/__init__.py"] if change == "edit-one-file" else [])
    assert cache.misses >= 1  # the distribution's entry did not hold
    assert read == []  # its unchanged native file is taken from the entry, not read again


def test_the_files_in_no_record_are_looked_for_again_when_a_record_changes(
    site: Path, tmp_path: Path, elf_pair: dict[str, bytes]
) -> None:
    """A RECORD rewritten in place to list a stray file changes no folder the walk for unowned
    files looked at: the RECORD's own state is part of that walk's entry."""
    from native_doctor.sources.env import UNOWNED

    (site / "stray").mkdir()
    (site / "stray" / "_old.cpython-311-x86_64-linux-gnu.so").write_bytes(elf_pair["_ext.so"])
    folder = tmp_path / "cache"

    def unowned() -> list[str]:
        cache = EnvCache(site, directory=folder)
        environment = read_environment(site, cache=cache)
        cache.save()
        return [n.path for d in environment.distributions if d.name == UNOWNED for n in d.native]

    assert unowned() == ["stray/_old.cpython-311-x86_64-linux-gnu.so"]
    assert unowned() == ["stray/_old.cpython-311-x86_64-linux-gnu.so"]  # from the cache
    record = site / "demo-1.0.dist-info" / "RECORD"
    edit_in_place(record, "demo/", "stray/_old.cpython-311-x86_64-linux-gnu.so,,\ndemo/")
    assert unowned() == []


def test_entries_encoded_when_made_give_the_same_file_as_entries_encoded_at_save(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    entries = [
        ("a\0k", {"native": {"size": 1, "info": None}}),
        ("dist\0é\udcff", {"folders": {"/x": 3}, "artifact": {"files": ["a", "ü"]}}),
        ("b\0k", {"loads": []}),
        ("dist\0two", {"state": {"digests": {}}}),
    ]
    files = []
    for final in (False, True):
        cache = EnvCache(site, directory=tmp_path / str(final))
        for key, entry in entries:
            if final and key.startswith("dist"):
                cache.put_final(key, entry)
            else:
                cache.put(key, **entry)
        cache.put("a\0k", markers={"m": 1})  # added to later: kept as a mapping
        cache.get("missing")  # a miss: the run learned something, the file is written
        cache.save()
        files.append(cache.path.read_bytes())
    assert files[0] == files[1]
    assert list(json.loads(files[1])["entries"]) == [key for key, _ in entries]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


_PATHS = st.sampled_from(["/site/a.py", "/site/a.so", "a.py", "a.so"])
_STATES = st.sampled_from(["1\x002\x003", "4\x005\x006"])


def _item(named: str, others: list[str]) -> st.SearchStrategy[dict[str, object]]:
    """A dictionary with ``named`` (mostly a path) and any of ``others`` (anything)."""
    return st.fixed_dictionaries({named: _PATHS | _JSON}, optional=dict.fromkeys(others, _JSON))


#: Entries shaped like a distribution's (the right containers, anything inside), or anything.
_ENTRIES = st.fixed_dictionaries(
    {
        "sources": st.dictionaries(_PATHS, _STATES | _JSON, max_size=3),
        "natives": st.dictionaries(_PATHS, _STATES | _JSON, max_size=3),
        "state": st.fixed_dictionaries({"load_calls": st.lists(_item("file", ["mode", "line", "names"]))}),
        "artifact": st.fixed_dictionaries({"native": st.lists(_item("path", ["size", "info"]))}),
    }
) | st.dictionaries(st.sampled_from(["sources", "natives", "state", "artifact", "other"]), _JSON, max_size=5)


@settings(max_examples=400, deadline=None)
@given(_ENTRIES, _STATES)
def test_an_earlier_entry_of_any_shape_is_used_or_ignored(entry: dict[str, object], state: str) -> None:
    """A corrupt or foreign distribution entry found as an earlier state: never an exception,
    at most nothing taken from it."""
    from native_doctor.sources.env import _Earlier

    earlier = _Earlier.of(entry)
    if earlier is not None:
        calls = earlier.calls("/site/a.py", "a.py", state)
        assert calls is None or all(call.file == "a.py" for call in calls)
        native = earlier.native("/site/a.so", "a.so", state)
        assert native is None or isinstance(native, dict)
