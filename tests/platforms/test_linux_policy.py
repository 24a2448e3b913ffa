"""Unit tests for native_doctor.platforms.linux (policy API, tags, versions)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_doctor.platforms import linux

GLIBC_ARCH_LOADERS = [
    pytest.param("x86_64", "ld-linux-x86-64.so.2", id="x86_64"),
    pytest.param("i686", "ld-linux.so.2", id="i686"),
    pytest.param("aarch64", "ld-linux-aarch64.so.1", id="aarch64"),
    pytest.param("armv7l", "ld-linux-armhf.so.3", id="armv7l"),
    pytest.param("ppc64le", "ld64.so.2", id="ppc64le"),
    pytest.param("ppc64", "ld64.so.1", id="ppc64"),
    pytest.param("s390x", "ld64.so.1", id="s390x"),
    pytest.param("riscv64", "ld-linux-riscv64-lp64d.so.1", id="riscv64"),
    pytest.param("loongarch64", "ld-linux-loongarch-lp64d.so.1", id="loongarch64"),
]


def _policy(name: str) -> linux.LinuxPolicy:
    policy = linux.policy_by_name(name)
    assert policy is not None
    return policy


# --- policies() -----------------------------------------------------------------------------------


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_policies_most_compatible_first(libc: linux.Libc) -> None:
    found = linux.policies(libc)
    assert [p.priority for p in found] == sorted((p.priority for p in found), reverse=True)
    assert all(p.libc == libc for p in found)


def test_policies_cover_the_public_definitions() -> None:
    names = [p.name for p in linux.policies("glibc")]
    assert names[0] == "manylinux_2_5"
    for expected in (
        "manylinux_2_17",
        "manylinux_2_28",
        "manylinux_2_34",
        "manylinux_2_39",
        "manylinux_2_41",
    ):
        assert expected in names
    assert [p.name for p in linux.policies("musl")] == ["musllinux_1_1", "musllinux_1_2"]


def test_policies_unknown_libc() -> None:
    with pytest.raises(ValueError, match="unknown libc"):
        linux.policies("bionic")  # type: ignore[arg-type]


def test_policies_are_cached() -> None:
    assert linux.policies("glibc") is linux.policies("glibc")


@pytest.mark.parametrize(
    ("name", "aliases"),
    [
        pytest.param("manylinux_2_5", ("manylinux1",), id="manylinux1"),
        pytest.param("manylinux_2_12", ("manylinux2010",), id="manylinux2010"),
        pytest.param("manylinux_2_17", ("manylinux2014",), id="manylinux2014"),
        pytest.param("manylinux_2_28", (), id="no-alias"),
    ],
)
def test_aliases(name: str, aliases: tuple[str, ...]) -> None:
    assert _policy(name).aliases == aliases
    for alias in aliases:
        assert linux.policy_by_name(alias) is _policy(name)


def test_policy_by_name_unknown() -> None:
    assert linux.policy_by_name("manylinux_2_3") is None


# --- tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "loader"), GLIBC_ARCH_LOADERS)
def test_tag_for_every_arch(arch: str, loader: str) -> None:
    newest = linux.policies("glibc")[-1]
    if arch == "ppc64":
        newest = _policy("manylinux_2_17")
    assert newest.supports_arch(arch)
    assert newest.tag(arch) == f"{newest.name}_{arch}"
    assert linux.parse_linux_platform_tag(newest.tag(arch)) == (
        "glibc",
        (2, int(newest.name.split("_")[2])),
        arch,
    )


@pytest.mark.parametrize(
    ("name", "arch", "tag", "alias_tags"),
    [
        pytest.param(
            "manylinux_2_17", "x86_64", "manylinux_2_17_x86_64", ("manylinux2014_x86_64",), id="2014"
        ),
        pytest.param("manylinux_2_5", "i686", "manylinux_2_5_i686", ("manylinux1_i686",), id="manylinux1"),
        pytest.param("manylinux_2_28", "aarch64", "manylinux_2_28_aarch64", (), id="no-alias"),
        pytest.param("musllinux_1_2", "armv7l", "musllinux_1_2_armv7l", (), id="musl"),
    ],
)
def test_tag_and_alias_tags(name: str, arch: str, tag: str, alias_tags: tuple[str, ...]) -> None:
    policy = _policy(name)
    assert policy.tag(arch) == tag
    assert policy.alias_tags(arch) == alias_tags


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param("manylinux2014_x86_64", ("glibc", (2, 17), "x86_64"), id="legacy-2014"),
        pytest.param("manylinux2010_i686", ("glibc", (2, 12), "i686"), id="legacy-2010"),
        pytest.param("manylinux1_x86_64", ("glibc", (2, 5), "x86_64"), id="legacy-1"),
        pytest.param("manylinux_2_28_aarch64", ("glibc", (2, 28), "aarch64"), id="pep600"),
        pytest.param("manylinux_2_31_riscv64", ("glibc", (2, 31), "riscv64"), id="pep600-riscv64"),
        pytest.param("musllinux_1_2_aarch64", ("musl", (1, 2), "aarch64"), id="musl"),
        pytest.param("musllinux_1_1_ppc64le", ("musl", (1, 1), "ppc64le"), id="musl-ppc64le"),
        pytest.param("linux_x86_64", None, id="plain-linux"),
        pytest.param("manylinux_2_x86_64", None, id="missing-minor"),
        pytest.param("manylinux2015_x86_64", None, id="unknown-legacy"),
        pytest.param("macosx_11_0_arm64", None, id="macos"),
        pytest.param("manylinux_2_17_", None, id="empty-arch"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_linux_platform_tag(tag: str, expected: object) -> None:
    assert linux.parse_linux_platform_tag(tag) == expected


@given(st.sampled_from(["manylinux", "musllinux"]), st.integers(0, 99), st.integers(0, 99))
def test_parse_linux_platform_tag_roundtrip(family: str, major: int, minor: int) -> None:
    parsed = linux.parse_linux_platform_tag(f"{family}_{major}_{minor}_x86_64")
    assert parsed == ("glibc" if family == "manylinux" else "musl", (major, minor), "x86_64")


# --- supports_arch / libraries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arch", "expected"),
    [
        pytest.param("manylinux_2_5", "x86_64", True, id="2_5-x86_64"),
        pytest.param("manylinux_2_5", "aarch64", False, id="2_5-no-aarch64"),
        pytest.param("manylinux_2_17", "ppc64", True, id="2_17-ppc64"),
        pytest.param("manylinux_2_28", "ppc64", False, id="2_28-no-ppc64"),
        pytest.param("manylinux_2_28", "riscv64", False, id="2_28-no-riscv64"),
        pytest.param("manylinux_2_31", "riscv64", True, id="2_31-riscv64"),
        pytest.param("manylinux_2_36", "loongarch64", True, id="2_36-loongarch64"),
        pytest.param("musllinux_1_1", "loongarch64", False, id="musl-1_1-no-loongarch64"),
        pytest.param("musllinux_1_2", "loongarch64", True, id="musl-1_2-loongarch64"),
        pytest.param("manylinux_2_17", "sparc64", False, id="unknown-arch"),
    ],
)
def test_supports_arch(name: str, arch: str, expected: bool) -> None:
    assert _policy(name).supports_arch(arch) is expected


@pytest.mark.parametrize(("arch", "loader"), GLIBC_ARCH_LOADERS)
def test_glibc_loaders_are_system_libraries(arch: str, loader: str) -> None:
    assert loader in linux.glibc_loader_names(arch)
    assert linux.is_system_library(loader, "glibc")
    assert not linux.is_system_library(loader, "musl")


@pytest.mark.parametrize(
    ("arch", "names"),
    [
        pytest.param("x86_64", {"ld-musl-x86_64.so.1", "libc.musl-x86_64.so.1"}, id="x86_64"),
        pytest.param("i686", {"ld-musl-i386.so.1", "libc.musl-x86.so.1"}, id="i686"),
        pytest.param("aarch64", {"ld-musl-aarch64.so.1", "libc.musl-aarch64.so.1"}, id="aarch64"),
        pytest.param("armv7l", {"ld-musl-armhf.so.1", "libc.musl-armv7.so.1"}, id="armv7l"),
        pytest.param("ppc64le", {"ld-musl-powerpc64le.so.1", "libc.musl-ppc64le.so.1"}, id="ppc64le"),
        pytest.param("s390x", {"ld-musl-s390x.so.1", "libc.musl-s390x.so.1"}, id="s390x"),
        pytest.param("riscv64", {"ld-musl-riscv64.so.1", "libc.musl-riscv64.so.1"}, id="riscv64"),
        pytest.param(
            "loongarch64", {"ld-musl-loongarch64.so.1", "libc.musl-loongarch64.so.1"}, id="loongarch64"
        ),
    ],
)
def test_musl_libc_sonames(arch: str, names: set[str]) -> None:
    assert linux.musl_libc_sonames(arch) == names
    assert all(linux.is_system_library(name, "musl") for name in names)
    assert _policy("musllinux_1_2").allows_library(arch, next(iter(names)))


def test_loader_names_all_and_unknown_arch() -> None:
    assert "ld64.so.2" in linux.loader_names("glibc")
    assert linux.loader_names("glibc", "sparc64") == frozenset()


@pytest.mark.parametrize(
    ("soname", "libc", "expected"),
    [
        pytest.param("libc.so.6", "glibc", True, id="libc"),
        pytest.param("libstdc++.so.6", "glibc", True, id="libstdcxx"),
        pytest.param("libmvec.so.1", "glibc", True, id="libmvec-later-policy"),
        pytest.param("libexpat.so.1", "glibc", True, id="libexpat"),
        pytest.param("libgfortran.so.5", "glibc", False, id="gfortran"),
        pytest.param("libssl.so.3", "glibc", False, id="openssl"),
        pytest.param("libncursesw.so.5", "glibc", False, id="ncurses-dropped"),
        pytest.param("libz.so.1", "musl", True, id="musl-libz"),
        # musl's loader answers names beginning lib{c,pthread,rt,m,dl,util,xnet}. itself (dynlink.c).
        pytest.param("libc.so.6", "musl", True, id="glibc-libc-on-musl-reserved"),
        pytest.param("libc.so", "musl", True, id="musl-upstream-soname-reserved"),
        pytest.param("libm.so.6", "musl", True, id="musl-libm-reserved"),
        pytest.param("libdl.so.2", "musl", True, id="musl-libdl-reserved"),
        pytest.param("libpthread.so.0", "musl", True, id="musl-libpthread-reserved"),
        pytest.param("librt.so.1", "musl", True, id="musl-librt-reserved"),
        pytest.param("libutil.so.1", "musl", True, id="musl-libutil-reserved"),
        pytest.param("libxnet.so.1", "musl", True, id="musl-libxnet-reserved"),
        pytest.param("libcrypt.so.1", "musl", False, id="musl-libcrypt-not-reserved"),
        pytest.param("libcrypto.so.3", "musl", False, id="musl-libcrypto-not-reserved"),
        pytest.param("libmvec.so.1", "musl", False, id="musl-libmvec-not-reserved"),
        pytest.param("libstdc++.so.6", "musl", False, id="musl-libstdcxx"),
        pytest.param("libm.so.6", "glibc", True, id="glibc-libm"),
        pytest.param("libc.so", "glibc", False, id="glibc-no-reserved-names"),
    ],
)
def test_is_system_library(soname: str, libc: linux.Libc, expected: bool) -> None:
    assert linux.is_system_library(soname, libc) is expected


def test_libraries_grow_with_newer_policies() -> None:
    assert "libexpat.so.1" not in _policy("manylinux_2_5").libraries
    assert "libexpat.so.1" in _policy("manylinux_2_12").libraries
    assert "libmvec.so.1" not in _policy("manylinux_2_17").libraries
    assert "libmvec.so.1" in _policy("manylinux_2_24").libraries


def test_libraries_for_is_per_arch() -> None:
    policy = _policy("manylinux_2_17")
    assert "ld-linux-aarch64.so.1" in policy.libraries
    assert "ld-linux-aarch64.so.1" not in policy.libraries_for("x86_64")
    assert policy.libraries_for("loongarch64") == frozenset()


# --- allows_version -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arch", "version", "expected"),
    [
        pytest.param("manylinux_2_17", "x86_64", "GLIBC_2.17", True, id="glibc-at-ceiling"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBC_2.2.5", True, id="glibc-old"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBC_2.18", False, id="glibc-too-new"),
        pytest.param("manylinux_2_17", "aarch64", "GLIBC_2.18", True, id="glibc-2.18-aarch64-centos7"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBCXX_3.4.19", True, id="glibcxx-at-ceiling"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBCXX_3.4.21", False, id="glibcxx-too-new"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBCXX_3.4", True, id="glibcxx-short"),
        pytest.param("manylinux_2_17", "x86_64", "CXXABI_1.3.8", False, id="cxxabi-too-new"),
        pytest.param("manylinux_2_17", "x86_64", "CXXABI_TM_1", True, id="cxxabi-tm"),
        pytest.param("manylinux_2_17", "x86_64", "CXXABI_FLOAT128", False, id="float128-too-new"),
        pytest.param("manylinux_2_24", "x86_64", "CXXABI_FLOAT128", True, id="float128"),
        pytest.param("manylinux_2_24", "aarch64", "CXXABI_FLOAT128", False, id="float128-not-on-aarch64"),
        pytest.param("manylinux_2_17", "ppc64le", "GLIBCXX_LDBL_3.4.10", True, id="ldbl"),
        pytest.param("manylinux_2_17", "ppc64le", "GLIBCXX_LDBL_3.4.21", False, id="ldbl-too-new"),
        pytest.param("manylinux_2_17", "x86_64", "GLIBCXX_LDBL_3.4", False, id="ldbl-not-on-x86_64"),
        pytest.param("manylinux_2_34", "ppc64le", "GLIBCXX_IEEE128_3.4.29", True, id="ieee128"),
        pytest.param("manylinux_2_17", "armv7l", "CXXABI_ARM_1.3.3", True, id="cxxabi-arm"),
        pytest.param("manylinux_2_36", "x86_64", "GLIBC_ABI_DT_RELR", True, id="dt-relr"),
        pytest.param("manylinux_2_35", "x86_64", "GLIBC_ABI_DT_RELR", False, id="dt-relr-too-new"),
        pytest.param("manylinux_2_5", "x86_64", "ZLIB_1.2.2.4", False, id="zlib-unversioned-era"),
        pytest.param("manylinux_2_12", "x86_64", "ZLIB_1.2.2.4", True, id="zlib"),
        pytest.param("manylinux_2_17", "x86_64", "LIBATOMIC_1.0", False, id="libatomic-not-x86_64-2014"),
        pytest.param("manylinux_2_17", "i686", "LIBATOMIC_1.0", True, id="libatomic-i686"),
        pytest.param("manylinux_2_17", "x86_64", "GCC_4.8.0", True, id="gcc"),
        pytest.param("manylinux_2_17", "x86_64", "GCC_7.0.0", False, id="gcc-too-new"),
        pytest.param("manylinux_2_41", "x86_64", "GLIBC_PRIVATE", False, id="glibc-private"),
        pytest.param("manylinux_2_41", "x86_64", "GLIBC_2.17x", False, id="unparsable-governed"),
        pytest.param("manylinux_2_41", "x86_64", "GLIBC", False, id="bare-namespace"),
        pytest.param("manylinux_2_5", "x86_64", "GFORTRAN_8", True, id="gfortran-ungoverned"),
        pytest.param("manylinux_2_5", "x86_64", "OPENSSL_3.0.0", True, id="openssl-ungoverned"),
        pytest.param("manylinux_2_5", "x86_64", "Qt_5", True, id="qt-ungoverned"),
        pytest.param("manylinux_2_5", "x86_64", "weird", True, id="no-namespace-ungoverned"),
        pytest.param("manylinux_2_5", "aarch64", "GLIBC_2.2.5", False, id="unsupported-arch"),
        pytest.param("musllinux_1_1", "x86_64", "GLIBC_2.99", True, id="musl-governs-nothing"),
    ],
)
def test_allows_version(name: str, arch: str, version: str, expected: bool) -> None:
    assert _policy(name).allows_version(arch, version) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("GLIBC_2.17", ("GLIBC", (2, 17)), id="glibc"),
        pytest.param("GLIBCXX_LDBL_3.4.10", ("GLIBCXX_LDBL", (3, 4, 10)), id="qualified"),
        pytest.param("CXXABI_TM_1", ("CXXABI_TM", (1,)), id="single-number"),
        pytest.param("CXXABI_FLOAT128", ("CXXABI_FLOAT128", ()), id="no-number"),
        pytest.param("GLIBC_PRIVATE", ("GLIBC_PRIVATE", ()), id="private"),
        pytest.param("2.17", ("2.17", ()), id="number-only"),
        pytest.param("GLIBC_2..17", ("GLIBC_2..17", ()), id="bad-number"),
    ],
)
def test_parse_symbol_version(version: str, expected: tuple[str, tuple[int, ...]]) -> None:
    assert linux.parse_symbol_version(version) == expected


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "ppc64le", "s390x", "armv7l", "i686"])
def test_ceilings_never_decrease(arch: str) -> None:
    supported = [p for p in linux.policies("glibc") if p.supports_arch(arch)]
    for older, newer in itertools.pairwise(supported):
        for key, ceiling in older.ceilings[arch].items():
            if ceiling is not None:
                newer_ceiling = newer.ceiling(arch, key)
                assert newer_ceiling is not None and ceiling <= newer_ceiling, (newer.name, key)


# --- best_policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "libc", "external", "versions", "expected"),
    [
        pytest.param("x86_64", "glibc", [], [], "manylinux_2_5", id="nothing-needed"),
        pytest.param("x86_64", "glibc", ["libc.so.6"], ["GLIBC_2.2.5"], "manylinux_2_5", id="old-glibc"),
        pytest.param("x86_64", "glibc", ["libc.so.6"], ["GLIBC_2.17"], "manylinux_2_17", id="glibc-2.17"),
        pytest.param(
            "x86_64", "glibc", [], ["GLIBC_2.17", "GLIBCXX_3.4.21"], "manylinux_2_24", id="glibcxx-pushes"
        ),
        pytest.param(
            "x86_64", "glibc", [], ["GLIBC_2.28", "GFORTRAN_8"], "manylinux_2_28", id="gfortran-ignored"
        ),
        pytest.param("x86_64", "glibc", ["libexpat.so.1"], [], "manylinux_2_12", id="expat-needs-2010"),
        pytest.param("x86_64", "glibc", ["libmvec.so.1"], [], "manylinux_2_24", id="libmvec-needs-2_24"),
        pytest.param("x86_64", "glibc", ["ld-linux-x86-64.so.2"], [], "manylinux_2_5", id="loader-ok"),
        pytest.param("x86_64", "glibc", ["ld-linux-aarch64.so.1"], [], None, id="other-arch-loader"),
        pytest.param("x86_64", "glibc", ["libssl.so.3"], [], None, id="external-openssl"),
        pytest.param("x86_64", "glibc", [], ["GLIBC_PRIVATE"], None, id="glibc-private"),
        pytest.param("x86_64", "glibc", [], ["GLIBC_2.99"], None, id="future-glibc"),
        pytest.param("aarch64", "glibc", [], ["GLIBC_2.17"], "manylinux_2_17", id="aarch64-starts-2014"),
        pytest.param("riscv64", "glibc", [], [], "manylinux_2_31", id="riscv64-starts-2_31"),
        pytest.param("loongarch64", "glibc", [], [], "manylinux_2_36", id="loongarch64-starts-2_36"),
        pytest.param("ppc64", "glibc", [], [], "manylinux_2_17", id="ppc64-only-2014"),
        pytest.param("ppc64", "glibc", [], ["GLIBC_2.18"], None, id="ppc64-nothing-newer"),
        pytest.param("sparc64", "glibc", [], [], None, id="unknown-arch"),
        pytest.param("x86_64", "musl", ["libc.musl-x86_64.so.1"], [], "musllinux_1_1", id="musl"),
        pytest.param("loongarch64", "musl", ["libz.so.1"], [], "musllinux_1_2", id="musl-loongarch64"),
        # musl's loader answers libc.so.6 itself (a reserved name); whether the symbols are there is
        # another question, as for every system library.
        pytest.param("x86_64", "musl", ["libc.so.6"], [], "musllinux_1_1", id="musl-reserved-glibc-name"),
        pytest.param("x86_64", "musl", ["libgcc_s.so.1"], [], None, id="musl-unlisted-lib"),
        pytest.param(
            "x86_64", "musl", ["libc.musl-x86_64.so.1"], ["GLIBC_2.99"], "musllinux_1_1", id="musl-versions"
        ),
    ],
)
def test_best_policy(
    arch: str, libc: linux.Libc, external: list[str], versions: list[str], expected: str | None
) -> None:
    chosen = linux.best_policy(arch, libc, external=external, versions=versions)
    assert (chosen.name if chosen else None) == expected


def test_best_policy_accepts_iterators() -> None:
    chosen = linux.best_policy("x86_64", "glibc", external=iter(["libm.so.6"]), versions=iter(["GLIBC_2.12"]))
    assert chosen is not None and chosen.name == "manylinux_2_12"


def test_musl_reserved_names_need_no_policy_library() -> None:
    best = linux.best_policy("x86_64", "musl", external=["libc.so", "libm.so.6"], versions=[])
    assert best is not None and best.name == "musllinux_1_1"
    assert not linux.policy_by_name("musllinux_1_2").allows_library("sparc64", "libc.so")  # type: ignore[union-attr]
    assert linux.best_policy("x86_64", "glibc", external=["libc.so"], versions=[]) is None
