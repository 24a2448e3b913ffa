"""Offline checks of the pinned real-wheel corpus manifest, plus one real fetch (marked ``corpus``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from _corpus import (
    DEFAULT_BUDGET_BYTES,
    FAMILIES,
    LARGE_BYTES,
    MANIFEST_PATH,
    CorpusError,
    CorpusWheel,
    corpus_params,
    ensure,
    family_for_platforms,
    is_large,
    load_manifest,
    pip_download_args,
    sha256_file,
    wheels,
)

if TYPE_CHECKING:
    from pathlib import Path

REQUIRED_KEYS = {"name", "version", "filename", "sha256", "size", "family", "tags", "benchmark_only"}
LARGE = 500 * 1000 * 1000


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The manifest as plain JSON."""
    with MANIFEST_PATH.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@pytest.fixture(scope="module")
def entries() -> list[CorpusWheel]:
    """Every manifest entry, benchmark-only ones included."""
    return load_manifest()


def test_schema(raw: dict[str, Any]) -> None:
    assert set(raw) == {"schema_version", "wheels"}
    assert raw["schema_version"] == 1
    assert isinstance(raw["wheels"], list)
    for item in raw["wheels"]:
        assert set(item) == REQUIRED_KEYS, item.get("filename")
        assert isinstance(item["name"], str) and item["name"]
        assert isinstance(item["version"], str) and item["version"]
        assert isinstance(item["filename"], str) and item["filename"].endswith(".whl")
        assert isinstance(item["size"], int) and item["size"] > 0
        assert isinstance(item["benchmark_only"], bool)
        assert isinstance(item["tags"], list) and item["tags"], item["filename"]
        assert all(isinstance(t, str) and t == t.strip() and t for t in item["tags"])
        assert len(set(item["tags"])) == len(item["tags"]), f"duplicate tags in {item['filename']}"


def test_round_trip(raw: dict[str, Any], entries: list[CorpusWheel]) -> None:
    assert [e.to_json() for e in entries] == raw["wheels"]


def test_unique_filenames(entries: list[CorpusWheel]) -> None:
    counts = Counter(e.filename for e in entries)
    assert [f for f, n in counts.items() if n > 1] == []


def test_unique_hashes(entries: list[CorpusWheel]) -> None:
    counts = Counter(e.sha256 for e in entries)
    assert [h for h, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("entry", load_manifest(), ids=str)
def test_entry_agrees_with_filename(entry: CorpusWheel) -> None:
    name, version, _build, tags = parse_wheel_filename(entry.filename)
    assert canonicalize_name(entry.name) == name
    assert Version(entry.version) == version
    assert str(version) == entry.version, "pin the normalized version"
    assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    assert entry.family in FAMILIES
    assert family_for_platforms(t.platform for t in tags) == entry.family
    assert entry.platform_tags == {t.platform for t in tags}


def test_every_family_covered(entries: list[CorpusWheel]) -> None:
    covered = {e.family for e in entries if not e.benchmark_only}
    assert set(FAMILIES) - covered == set()
    small = {e.family for e in entries if not is_large(e)}  # the default run still sees every platform
    assert set(FAMILIES) - small == set()


def test_enough_ordinary_wheels(entries: list[CorpusWheel]) -> None:
    ordinary = [e for e in entries if not e.benchmark_only]
    assert len(ordinary) >= 30


def test_the_default_run_downloads_at_most_250_mb(entries: list[CorpusWheel]) -> None:
    """Everything a test may fetch without opting in to the large corpus: the small wheels and
    sdists (the real-environment venv is large too). The README states this figure."""
    from _sdists import load_manifest as sdist_manifest

    small_wheels = sum(e.size for e in entries if not is_large(e))
    small_sdists = sum(s.size for s in sdist_manifest() if s.size <= LARGE_BYTES)
    assert small_wheels + small_sdists <= DEFAULT_BUDGET_BYTES == 250 * 1000 * 1000
    assert len([e for e in entries if not is_large(e)]) >= 30


def test_large_benchmark_wheels(entries: list[CorpusWheel]) -> None:
    large = [e for e in entries if e.benchmark_only and e.size >= LARGE]
    assert len(large) >= 2
    for e in entries:
        if e.benchmark_only:
            assert "large" in e.tags, e.filename
    # no ordinary test should ever pull in a huge file
    assert all(e.size < 100 * 1000 * 1000 for e in entries if not e.benchmark_only)


@pytest.mark.parametrize(
    ("project", "families"),
    [
        ("numpy", {"manylinux-x86_64", "macos-arm64", "win-amd64", "win-arm64", "musllinux-aarch64"}),
        ("scipy", {"manylinux-aarch64", "musllinux-x86_64", "macos-x86_64", "win-amd64"}),
        ("scikit-learn", {"manylinux-x86_64", "macos-arm64", "win-amd64"}),
        ("cryptography", {"manylinux-x86_64", "musllinux-x86_64", "macos-universal2", "win-amd64", "win32"}),
    ],
)
def test_key_projects_span_platforms(entries: list[CorpusWheel], project: str, families: set[str]) -> None:
    have = {e.family for e in entries if canonicalize_name(e.name) == project}
    assert families <= have


@pytest.mark.parametrize(
    "tag", ["abi3", "rust", "openmp", "openblas", "libgfortran", "mingw", "free-threaded"]
)
def test_interesting_tags_present(tag: str) -> None:
    assert wheels(tag=tag)


def test_free_threaded_and_abi3_tags_match_filenames(entries: list[CorpusWheel]) -> None:
    for e in entries:
        abis = {t.abi for t in parse_wheel_filename(e.filename)[3]}
        assert ("abi3" in e.tags) == ("abi3" in abis), e.filename
        assert ("free-threaded" in e.tags) == any(a.endswith("t") for a in abis), e.filename


def test_wheels_filters(entries: list[CorpusWheel]) -> None:
    everything = wheels(include_benchmark=True)
    assert everything == entries
    assert all(not e.benchmark_only for e in wheels())
    assert {e.family for e in wheels(family="win-arm64")} == {"win-arm64"}
    assert all("rust" in e.tags for e in wheels(tag="rust"))
    assert {e.name for e in wheels(name="Scikit_Learn")} == {"scikit-learn"}
    with pytest.raises(ValueError, match="unknown corpus family"):
        wheels(family="beos")


def test_corpus_params() -> None:
    params = corpus_params(family="pure")
    assert params
    for p in params:
        (entry,) = p.values
        assert isinstance(entry, CorpusWheel)
        assert p.id == entry.filename
        assert any(m.name == "corpus" for m in p.marks)


@pytest.mark.parametrize(
    ("platforms", "family"),
    [
        ({"any"}, "pure"),
        ({"manylinux_2_17_x86_64", "manylinux2014_x86_64"}, "manylinux-x86_64"),
        ({"manylinux1_i686"}, "manylinux-i686"),
        ({"manylinux_2_28_aarch64"}, "manylinux-aarch64"),
        ({"manylinux_2_31_armv7l"}, "manylinux-other"),
        ({"manylinux_2_17_ppc64le"}, "manylinux-other"),
        ({"linux_x86_64"}, "manylinux-x86_64"),
        ({"musllinux_1_2_x86_64"}, "musllinux-x86_64"),
        ({"musllinux_1_1_aarch64"}, "musllinux-aarch64"),
        ({"musllinux_1_2_armv7l"}, None),
        ({"macosx_10_9_x86_64"}, "macos-x86_64"),
        ({"macosx_11_0_arm64"}, "macos-arm64"),
        ({"macosx_10_9_universal2"}, "macos-universal2"),
        ({"macosx_10_15_x86_64", "macosx_11_0_arm64", "macosx_10_15_universal2"}, "macos-universal2"),
        ({"macosx_10_15_x86_64", "macosx_11_0_arm64"}, None),
        ({"win_amd64"}, "win-amd64"),
        ({"win32"}, "win32"),
        ({"win_arm64"}, "win-arm64"),
        ({"win_amd64", "manylinux1_x86_64"}, None),
    ],
)
def test_family_for_platforms(platforms: set[str], family: str | None) -> None:
    assert family_for_platforms(platforms) == family


def _flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_pip_download_args() -> None:
    def entry(filename: str, name: str, version: str) -> CorpusWheel:
        return CorpusWheel(name, version, filename, "0" * 64, 1, "pure", ("x",))

    args = pip_download_args(
        entry("numpy-2.4.6-cp313-cp313t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "numpy", "2.4.6")
    )
    assert _flag_values(args, "--platform") == ["manylinux_2_27_x86_64", "manylinux_2_28_x86_64"]
    assert _flag_values(args, "--python-version") == ["3.13"]
    assert _flag_values(args, "--abi") == ["cp313t"]
    assert _flag_values(args, "--implementation") == ["cp"]
    assert args[-1] == "numpy==2.4.6"
    assert "--no-deps" in args and "--only-binary=:all:" in args

    args = pip_download_args(entry("pyzmq-27.2.0-cp312-abi3-win_amd64.whl", "pyzmq", "27.2.0"))
    assert _flag_values(args, "--abi") == ["abi3"]
    assert _flag_values(args, "--python-version") == ["3.12"]

    args = pip_download_args(entry("packaging-26.3-py3-none-any.whl", "packaging", "26.3"))
    assert _flag_values(args, "--platform") == ["any"]
    assert _flag_values(args, "--abi") == ["none"]
    assert _flag_values(args, "--python-version")[0].startswith("3.")


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _corpus import cache_dir

    monkeypatch.setenv("NATIVE_DOCTOR_CORPUS_CACHE", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    assert cache_dir().is_dir()
    monkeypatch.delenv("NATIVE_DOCTOR_CORPUS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "native-doctor" / "corpus"


def test_ensure_rejects_local_copy_with_wrong_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-named local file with other content is never used, and a failed fetch names the wheel."""
    import _corpus

    local = tmp_path / "local"
    local.mkdir()
    bogus = CorpusWheel(
        "native-doctor-no-such-project", "0.0.1", "native_doctor_no_such_project-0.0.1-py3-none-any.whl",
        "0" * 64, 5, "pure", ("pure",),
    )  # fmt: skip
    (local / bogus.filename).write_bytes(b"hello")
    monkeypatch.setenv("NATIVE_DOCTOR_CORPUS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NATIVE_DOCTOR_CORPUS_LOCAL_DIRS", str(local))
    monkeypatch.setattr(_corpus, "_download", _refuse_download)
    with pytest.raises(CorpusError, match=re.escape(bogus.filename)):
        ensure(bogus)
    assert not (tmp_path / "cache" / bogus.filename).exists()


def _refuse_download(entry: CorpusWheel, cache: Path, *, quiet: bool) -> None:
    raise CorpusError(f"{entry.filename}: downloads are disabled in this test")


def test_ensure_uses_identical_local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import _corpus

    content = b"not really a wheel"
    local = tmp_path / "local"
    local.mkdir()
    fake = CorpusWheel(
        "demo", "1.0", "demo-1.0-py3-none-any.whl", hashlib.sha256(content).hexdigest(), len(content),
        "pure", ("pure",),
    )  # fmt: skip
    (local / fake.filename).write_bytes(content)
    monkeypatch.setenv("NATIVE_DOCTOR_CORPUS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NATIVE_DOCTOR_CORPUS_LOCAL_DIRS", str(local))
    monkeypatch.setattr(_corpus, "_download", _refuse_download)
    path = ensure(fake)
    assert path == tmp_path / "cache" / fake.filename
    assert path.read_bytes() == content
    assert ensure(fake) == path  # second call is served from the cache


@pytest.mark.corpus
def test_ensure_small_wheel() -> None:
    entry = min(wheels(), key=lambda e: e.size)
    path = ensure(entry)
    assert path.name == entry.filename
    assert path.stat().st_size == entry.size
    assert sha256_file(path) == entry.sha256
