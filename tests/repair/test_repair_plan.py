"""The pure parts of the repair: naming, family matching, host-only libraries, the plan's closure
walk (with a fake locator), RUNPATH rules and the tag choice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from native_doctor.analysis import inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import UsageError
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.repair.linux import (
    Needs,
    choose_platforms,
    host_only_reason,
    plan_edits,
    rules,
    runpath_entry,
)
from native_doctor.repair.model import CannotRepair, LeftReason, LocatedLibrary, RepairOptions
from native_doctor.repair.plan import (
    LookupResult,
    build_plan,
    exclude_matches,
    libs_dir_of,
    mangled_name,
    place_grafts,
)
from native_doctor.sources._members import install_path


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("librocblas.so", "librocblas.so.5", True),
        ("librocblas.so", "librocblas.so.5.1", True),
        ("librocblas.so.5", "librocblas.so.5", True),
        ("librocblas.so", "librocblas.so", True),
        ("librocblas.so", "librocblas.so.x", False),
        ("librocblas.so", "librocblaslt.so.5", False),
        ("libcu*", "libcudart.so.12", True),
        ("libfoo.so.1", "libfoo.so.10", False),
    ],
    ids=str,
)
def test_exclude_matches_the_family(pattern: str, name: str, matches: bool) -> None:
    assert exclude_matches(pattern, name) is matches


@pytest.mark.parametrize(
    ("name", "host_only"),
    [
        ("libcuda.so.1", True),
        ("libnvidia-ml.so.1", True),
        ("libnvidia-ptxjitcompiler.so.1", True),
        ("libGL.so.1", True),
        ("libEGL.so.1", True),
        ("libGLX.so.0", True),
        ("libOpenGL.so.0", True),
        ("libGLdispatch.so.0", True),
        ("libvulkan.so.1", True),
        ("libOpenCL.so.1", True),
        ("libcudart.so.12", False),
        ("libGLU.so.1", False),
        ("libglib-2.0.so.0", False),
        ("libz.so.1", False),
    ],
)
def test_host_only_libraries(name: str, host_only: bool) -> None:
    assert (host_only_reason(name) is not None) is host_only


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("libfoo.so.1", "libfoo-0123abcd.so.1"),
        ("libfoo.so", "libfoo-0123abcd.so"),
        ("libfoo-89abcdef.so.1", "libfoo-89abcdef.so.1"),  # grafted before: stable
        ("libstdc++.so.6", "libstdc++-0123abcd.so.6"),
    ],
)
def test_mangled_name(name: str, expected: str) -> None:
    assert mangled_name(name, "0123abcd" + "0" * 56) == expected


def test_libs_dir_is_named_after_the_wheel() -> None:
    assert libs_dir_of("/x/scikit_learn-1.0-cp311-cp311-linux_x86_64.whl") == "scikit_learn.libs"


@pytest.mark.parametrize(
    ("from_dir", "to_dir", "entry"),
    [
        ("demo", "demo.libs", "$ORIGIN/../demo.libs"),
        ("demo/sub", "demo.libs", "$ORIGIN/../../demo.libs"),
        ("", "demo.libs", "$ORIGIN/demo.libs"),
        ("demo.libs", "demo.libs", "$ORIGIN"),
        ("torch/lib", "nvidia/cu13/lib", "$ORIGIN/../../nvidia/cu13/lib"),
    ],
)
def test_runpath_entry(from_dir: str, to_dir: str, entry: str) -> None:
    assert runpath_entry(from_dir, to_dir) == entry


_RULES = rules("glibc")


def _elf(**fields: object) -> BinaryInfo:
    return BinaryInfo(BinaryFormat.ELF, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, **fields)  # type: ignore[arg-type]


def _wheel(*natives: NativeFile, requires: tuple[str, ...] = ()) -> Artifact:
    return Artifact(
        ArtifactKind.WHEEL,
        "/w/demo-1.0-cp311-cp311-linux_x86_64.whl",
        "demo",
        "1.0",
        ("cp311-cp311-linux_x86_64",),
        tuple(n.install_path for n in natives),
        natives,
        requires_dist=requires,
    )


def _lib(name: str, *, needed: tuple[str, ...] = (), runpath: tuple[str, ...] = ()) -> LocatedLibrary:
    info = _elf(soname=name, needed=needed, runpath=runpath)
    return LocatedLibrary(
        name, f"/build/{name}", b"x", info, name.encode().hex().ljust(64, "0"), "--lib-path /build"
    )


def _ext(needed: tuple[str, ...], runpath: tuple[str, ...] = ()) -> NativeFile:
    info = _elf(needed=needed, runpath=runpath)
    return NativeFile("demo/_ext.so", "demo/_ext.so", 100, None, info)


def test_plan_walks_the_closure_and_sorts_every_library() -> None:
    located = {
        "liba.so.1": _lib("liba.so.1", needed=("libb.so.2", "libc.so.6", "libcuda.so.1")),
        "libb.so.2": _lib("libb.so.2", needed=("libz.so.1",)),
    }
    searched: list[tuple[str, tuple[str, ...]]] = []

    def lookup(name: str, search: tuple[str, ...]) -> LookupResult:
        searched.append((name, search))
        return LookupResult(located.get(name))

    ext = _ext(("liba.so.1", "libcudart.so.13", "libnope.so.3", "libm.so.6"), runpath=("/opt/build/lib",))
    inspection = inspect_artifact(_wheel(ext))
    plan = build_plan(inspection, RepairOptions(excludes=("libnope.so",)), lookup, rules=_RULES)
    assert [g.name for g in plan.grafts] == ["liba.so.1", "libb.so.2"]
    (graft_b,) = [g for g in plan.grafts if g.name == "libb.so.2"]
    assert graft_b.chain == ("demo/_ext.so", "liba.so.1", "libb.so.2")
    assert graft_b.needed_by == ("liba.so.1",)
    assert graft_b.member.startswith("demo.libs/libb-")
    assert [(x.name, x.reason) for x in plan.left] == [
        ("libcuda.so.1", LeftReason.HOST),
        ("libnope.so.3", LeftReason.EXCLUDED),
    ]
    (link,) = plan.links
    assert (link.name, link.distribution, link.directory, link.declared) == (
        "libcudart.so.13", "nvidia-cuda-runtime", "nvidia/cu13/lib", False,
    )  # fmt: skip
    assert plan.missing == ()
    assert ("liba.so.1", ("/opt/build/lib",)) in searched  # the binary's own absolute RUNPATH
    assert all(name not in ("libz.so.1", "libc.so.6", "libm.so.6") for name, _ in searched)


def test_plan_reports_missing_with_the_chain() -> None:
    inspection = inspect_artifact(_wheel(_ext(("liba.so.1",))))
    located = {"liba.so.1": _lib("liba.so.1", needed=("libgone.so.1",))}
    plan = build_plan(
        inspection,
        RepairOptions(),
        lambda name, _s: LookupResult(located.get(name), (("/x/" + name, "not ELF"),)),
        rules=_RULES,
    )
    (missing,) = plan.missing
    assert missing.chain == ("demo/_ext.so", "liba.so.1", "libgone.so.1")
    assert missing.rejected == (("/x/libgone.so.1", "not ELF"),)


def test_declared_provider_is_preferred_and_not_redeclared() -> None:
    inspection = inspect_artifact(_wheel(_ext(("libcudnn.so.9",)), requires=("nvidia-cudnn-cu13>=9",)))
    plan = build_plan(inspection, RepairOptions(), lambda n, s: LookupResult(None), rules=_RULES)
    (link,) = plan.links
    assert (link.distribution, link.declared) == ("nvidia-cudnn-cu13", True)


def test_unused_exclude_warns() -> None:
    inspection = inspect_artifact(_wheel(_ext(("libc.so.6",))))
    plan = build_plan(
        inspection, RepairOptions(excludes=("libzzz.so",)), lambda n, s: LookupResult(None), rules=_RULES
    )
    assert plan.warnings == ("--exclude libzzz.so matched no needed library",)


def test_edits_keep_own_entries_and_drop_build_machine_ones() -> None:
    ext = _ext(
        ("liba.so.1", "libc.so.6"), runpath=("$ORIGIN/sub", "/home/ci/build/lib", "$ORIGIN/../../../x")
    )
    inspection = inspect_artifact(_wheel(ext))
    located = {"liba.so.1": _lib("liba.so.1")}
    plan = build_plan(inspection, RepairOptions(), lambda n, s: LookupResult(located.get(n)), rules=_RULES)
    specs = {s.member: s for s in plan_edits(plan, inspection.artifact.native)}
    spec = specs["demo/_ext.so"]
    assert spec.runpath == ("$ORIGIN/sub", "$ORIGIN/../demo.libs")
    assert spec.replace_needed == {"liba.so.1": plan.grafts[0].new_name}
    assert spec.change is not None
    assert [entry for entry, _ in spec.change.dropped] == ["/home/ci/build/lib", "$ORIGIN/../../../x"]
    graft = specs[plan.grafts[0].member]
    assert graft.soname == plan.grafts[0].new_name
    assert graft.runpath is None  # needs nothing grafted: no RUNPATH added


def _needs(libraries: dict[str, tuple[str, ...]], versions: dict[str, tuple[str, str]]) -> Needs:
    return Needs("x86_64", "glibc", libraries, versions)


def test_claimed_tags_the_binaries_meet_are_kept() -> None:
    needs = _needs({"libc.so.6": ("a.so",)}, {"GLIBC_2.17": ("a.so", "libc.so.6")})
    claimed = ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert choose_platforms(needs, claimed, None) == (claimed, False)


def test_linux_tag_becomes_the_best_policy() -> None:
    needs = _needs({"libc.so.6": ("a.so",)}, {"GLIBC_2.17": ("a.so", "libc.so.6")})
    assert choose_platforms(needs, ("linux_x86_64",), None) == (
        ("manylinux_2_17_x86_64", "manylinux2014_x86_64"), True,
    )  # fmt: skip


def test_plat_refused_names_the_library() -> None:
    needs = _needs({"libfoo.so.1": ("demo/_ext.so",)}, {})
    with pytest.raises(CannotRepair, match=r"demo/_ext.so needs libfoo.so.1"):
        choose_platforms(needs, ("linux_x86_64",), "manylinux_2_28_x86_64")


def test_a_metapackage_extra_declares_its_components() -> None:
    """torch declares ``cuda-toolkit[cublas,...]``: nvidia-cublas counts as declared, and no
    warning about nvidia-cublas-cu12 (CUDA 12) providing a same-named library."""
    ext = _ext(("libcublas.so.13", "libcusparse.so.12"))
    requires = ('cuda-toolkit[cublas,cusparse]==13.0.3; platform_system == "Linux"',)
    plan = build_plan(
        inspect_artifact(_wheel(ext, requires=requires)),
        RepairOptions(),
        lambda n, s: LookupResult(None),
        rules=_RULES,
    )
    assert [(lk.name, lk.distribution, lk.declared) for lk in plan.links] == [
        ("libcublas.so.13", "nvidia-cublas", True),
        ("libcusparse.so.12", "nvidia-cusparse", True),
    ]
    assert plan.warnings == ()


def test_musl_libc_so_is_left_to_the_platform() -> None:
    ext = NativeFile(
        "demo/_ext.so",
        "demo/_ext.so",
        1,
        None,
        _elf(needed=("libc.so",), interpreter="/lib/ld-musl-x86_64.so.1"),
    )
    artifact = _wheel(ext)
    artifact = Artifact(
        artifact.kind,
        artifact.path,
        "demo",
        "1.0",
        ("cp312-cp312-musllinux_1_2_x86_64",),
        artifact.files,
        (ext,),
    )
    musl = rules("musl")
    plan = build_plan(
        inspect_artifact(artifact), RepairOptions(), lambda n, s: LookupResult(None), rules=musl
    )
    assert plan.missing == ()
    assert [(x.name, x.reason) for x in plan.left] in ([], [("libc.so", LeftReason.HOST)])


def test_no_provider_grafts_what_the_builtin_data_would_link() -> None:
    """``--no-provider nvidia-cuda-runtime``: libcudart is found and grafted like any library
    (a self-contained wheel), and the other providers are still linked."""
    ext = _ext(("libcudart.so.13", "libcublas.so.13"))
    located = {"libcudart.so.13": _lib("libcudart.so.13")}
    options = RepairOptions(no_providers=("NVIDIA_cuda_runtime",))  # any spelling of the name
    plan = build_plan(
        inspect_artifact(_wheel(ext)), options, lambda n, s: LookupResult(located.get(n)), rules=_RULES
    )
    assert [g.name for g in plan.grafts] == ["libcudart.so.13"]
    assert [(lk.name, lk.distribution) for lk in plan.links] == [("libcublas.so.13", "nvidia-cublas")]
    assert plan.warnings == ()


def test_no_provider_falls_back_to_another_provider_or_warns_when_unused() -> None:
    ext = _ext(("libcudnn.so.9",))
    plan = build_plan(
        inspect_artifact(_wheel(ext)),
        RepairOptions(no_providers=("nvidia-cudnn-cu13", "pyarrow")),
        lambda n, s: LookupResult(None),
        rules=_RULES,
    )
    assert [lk.distribution for lk in plan.links] == ["nvidia-cudnn-cu12"]
    assert plan.warnings == ("--no-provider pyarrow provides no needed library: nothing changed",)


def test_no_provider_and_provided_by_the_same_distribution_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="both --provided-by and --no-provider"):
        build_plan(
            inspect_artifact(_wheel(_ext(("libcudart.so.13",)))),
            RepairOptions(provided_by=("nvidia-cuda-runtime",), no_providers=("nvidia-cuda-runtime",)),
            lambda n, s: LookupResult(None),
            rules=_RULES,
        )


def _placed(root_is_purelib: bool, *members: str) -> tuple[str, ...]:
    natives = tuple(NativeFile(m, install_path(m), 100, None, _elf(needed=("liba.so.1",))) for m in members)
    artifact = replace(_wheel(*natives), root_is_purelib=root_is_purelib)
    inspection = inspect_artifact(artifact)
    located = {"liba.so.1": _lib("liba.so.1")}
    plan = build_plan(inspection, RepairOptions(), lambda n, s: LookupResult(located.get(n)), rules=_RULES)
    return tuple(g.member.rsplit("/", 1)[0] for g in place_grafts(plan, inspection).grafts)


@pytest.mark.parametrize(
    ("root_is_purelib", "members", "libs_member"),
    [
        (False, ("demo/_ext.so",), "demo.libs"),
        (True, ("demo/_ext.so",), "demo.libs"),  # root and <dist>.libs both in purelib
        (False, ("demo-1.0.data/platlib/demo/_ext.so",), "demo.libs"),  # root is platlib
        (True, ("demo-1.0.data/platlib/demo/_ext.so",), "demo-1.0.data/platlib/demo.libs"),
        (False, ("demo-1.0.data/purelib/demo/_ext.so",), "demo-1.0.data/purelib/demo.libs"),
        (False, ("demo/_ext.so", "demo-1.0.data/platlib/demo/_b.so"), "demo.libs"),  # both platlib
    ],
    ids=["platlib-root", "purelib-root", "data-platlib", "purelib-root-data-platlib", "data-purelib", "same"],
)
def test_grafts_go_into_the_scheme_of_the_binaries_that_load_them(
    root_is_purelib: bool, members: tuple[str, ...], libs_member: str
) -> None:
    assert _placed(root_is_purelib, *members) == (libs_member,)


def test_grafts_needed_from_both_schemes_are_refused() -> None:
    with pytest.raises(CannotRepair, match=r"both purelib \(demo/_ext.so\) and platlib \(demo-1.0.data"):
        _placed(True, "demo/_ext.so", "demo-1.0.data/platlib/demo/_b.so")
