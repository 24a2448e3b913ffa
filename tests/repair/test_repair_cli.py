"""``native-doctor repair`` behaviour: exit codes, nothing written on failure, dry runs, JSON,
provider links, libraries left to the machine, --plat, reproducibility and idempotence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from _repair_build import build_extension_wheel, build_library, extension_source
from _toolchain import in_ci, require, run
from _wheels import make_wheel
from native_doctor.cli import main
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain

_ONE = "int one_value(void) { return 1; }\n"


@pytest.fixture
def simple(tmp_path: Path) -> tuple[Path, Path]:
    """(wheel needing libone.so.1, the folder that has it)."""
    require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libone.so.1", _ONE)
    wheel = build_extension_wheel(
        tmp_path, libs, ("libone.so.1",), declaration="int one_value(void);", call="one_value()"
    )
    return wheel, libs


def _repair(*args: str | Path) -> int:
    return main(["repair", "--no-sys-paths", *map(str, args)])


def _install_in_fresh_venv(venv: Path, *wheels: str) -> Path:
    """A fresh venv at ``venv`` (no pip) with ``wheels`` installed by this pip; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*pip, *wheels], check=True)
    return python


def _call_ext(python: Path) -> subprocess.CompletedProcess[str]:
    """``demo._ext.call()`` in a child ``python`` that inherits no LD_* or PYTHON* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
    return subprocess.run(
        [str(python), "-c", "import demo._ext as m; print(m.call())"],
        capture_output=True, text=True, env=env, cwd=python.parent.parent, check=False,
    )  # fmt: skip


def test_missing_library_exits_1_and_writes_nothing(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, _ = simple
    out = tmp_path / "out"
    assert _repair("-w", out, wheel) == 1
    captured = capsys.readouterr()
    assert "libone.so.1" in captured.err
    assert "--lib-path" in captured.err
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_library_on_lib_path_is_skipped_with_the_reason(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, _ = simple
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "libone.so.1").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 20)
    out = tmp_path / "out"
    assert _repair("-w", out, "--lib-path", bad, "--format", "json", wheel) == 1
    document = json.loads(capsys.readouterr().out)
    (missing,) = document["wheels"][0]["missing"]
    assert missing["name"] == "libone.so.1"
    assert "not a readable library" in missing["rejected"][0]["reason"]
    assert not out.exists() or not any(out.iterdir())


def test_wrong_architecture_on_lib_path_is_skipped(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cross = require("i686-linux-gnu-gcc")
    wheel, _ = simple
    other = tmp_path / "i686"
    build_library(other, "libone.so.1", _ONE, cc=cross)
    assert _repair("-w", tmp_path / "out", "--lib-path", other, wheel) == 1
    assert "built for i686" in capsys.readouterr().out


def test_truncated_wheel_is_an_input_error(simple: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = simple
    data = wheel.read_bytes()
    cut = tmp_path / "cut" / wheel.name
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert _repair("-w", out, "--lib-path", libs, cut) == 2
    assert not out.exists() or not any(out.iterdir())


def test_dry_run_prints_the_plan_and_writes_nothing(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, libs = simple
    out = tmp_path / "out"
    assert _repair("-w", out, "--lib-path", libs, "--dry-run", wheel) == 0
    text = capsys.readouterr().out
    assert "graft  libone.so.1 -> demo.libs/libone-" in text
    assert f"found in --lib-path {libs}" in text
    assert "chain demo/_ext" in text
    assert not out.exists()


def test_two_runs_are_byte_identical_and_rerepair_changes_nothing(
    simple: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, libs = simple
    first, second, again = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _repair("-w", first, "--lib-path", libs, wheel) == 0
    assert _repair("-w", second, "--lib-path", libs, wheel) == 0
    (a,) = first.glob("*.whl")
    (b,) = second.glob("*.whl")
    assert a.name == b.name
    assert a.read_bytes() == b.read_bytes()
    assert _repair("-w", again, a) == 0
    (c,) = again.glob("*.whl")
    assert c.name == a.name
    assert c.read_bytes() == a.read_bytes()
    record = read_wheel(a, verify_record=True).record
    assert record is not None
    assert (record.mismatched, record.unlisted, record.missing) == ((), (), ())


def test_source_date_epoch_sets_every_timestamp(
    simple: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, libs = simple
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    assert _repair("-w", tmp_path / "o", "--lib-path", libs, wheel) == 0
    (out,) = (tmp_path / "o").glob("*.whl")
    assert {i.date_time for i in zipfile.ZipFile(out).infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_input_is_never_modified(simple: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = simple
    before = wheel.read_bytes(), wheel.stat().st_mtime_ns
    assert _repair("-w", tmp_path / "o", "--lib-path", libs, wheel) == 0
    assert (wheel.read_bytes(), wheel.stat().st_mtime_ns) == before


def test_exclude_family_and_unused_pattern_warning(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, _libs = simple
    code = _repair("-w", tmp_path / "o", "--exclude", "libone.so", "--exclude", "libnothing.so", wheel)
    text = capsys.readouterr().out
    assert code == 0
    assert "leave  libone.so.1: --exclude libone.so" in text
    assert "warning: --exclude libnothing.so matched no needed library" in text


def test_gpu_driver_and_glvnd_libraries_are_never_grafted(tmp_path: Path) -> None:
    require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libcuda.so.1", "int cuInit(int f) { return f; }\n")
    build_library(libs, "libEGL.so.1", "int eglGetDisplay(void) { return 0; }\n")
    wheel = build_extension_wheel(
        tmp_path,
        libs,
        ("libcuda.so.1", "libEGL.so.1"),
        declaration="int cuInit(int); int eglGetDisplay(void);",
        call="cuInit(0) + eglGetDisplay()",
    )
    out = tmp_path / "o"
    assert main(["repair", "-w", str(out), "--lib-path", str(libs), "--format", "json", str(wheel)]) == 0
    (repaired,) = out.glob("*.whl")
    assert not [n for n in zipfile.ZipFile(repaired).namelist() if ".libs/" in n]


def test_provider_library_is_linked_not_grafted_and_imports(tmp_path: Path) -> None:
    """libcudart.so.13 comes from nvidia-cuda-runtime (built-in provider data): RUNPATH reaches
    nvidia/cu13/lib in site-packages, METADATA gains the Requires-Dist, and the wheel imports once
    a (stand-in) provider wheel is installed beside it."""
    require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libcudart.so.13", "int cudaRuntimeGetVersion(void) { return 13000; }\n")
    wheel = build_extension_wheel(
        tmp_path, libs, ("libcudart.so.13",), declaration="int cudaRuntimeGetVersion(void);",
        call="cudaRuntimeGetVersion()",
    )  # fmt: skip
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, wheel) == 0
    (repaired,) = out.glob("*.whl")
    with zipfile.ZipFile(repaired) as archive:
        assert not [n for n in archive.namelist() if ".libs/" in n]
        assert "Requires-Dist: nvidia-cuda-runtime" in archive.read("demo-1.0.dist-info/METADATA").decode()
    provider = make_wheel(
        tmp_path,
        "nvidia_cuda_runtime-13.0.96-py3-none-manylinux_2_17_x86_64.whl",
        {"nvidia/cu13/lib/libcudart.so.13": (libs / "libcudart.so.13").read_bytes()},
    )
    python = _install_in_fresh_venv(tmp_path / "v", str(provider), str(repaired))
    (libs / "libcudart.so.13").unlink()
    proc = _call_ext(python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "13000"


def test_plat_too_old_is_refused_naming_the_symbol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("gcc")
    libs = tmp_path / "libs"
    # reallocarray appeared in glibc 2.26: manylinux2014 (glibc 2.17) cannot hold it.
    build_library(
        libs,
        "libnew.so.1",
        "#define _GNU_SOURCE\n#include <stdlib.h>\n"
        "int new_value(void) { void *p = reallocarray(0, 2, 8); free(p); return p != 0; }\n",
    )
    wheel = build_extension_wheel(
        tmp_path, libs, ("libnew.so.1",), declaration="int new_value(void);", call="new_value()"
    )
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, "--plat", "manylinux2014_x86_64", wheel) == 1
    err = capsys.readouterr().err
    assert "GLIBC_2.26" in err
    assert "libc.so.6" in err
    assert not out.exists() or not any(out.iterdir())
    assert _repair("-w", out, "--lib-path", libs, "--plat", "manylinux_2_28_x86_64", wheel) == 0
    assert [p.name.split("-")[-1] for p in out.glob("*.whl")] == ["manylinux_2_28_x86_64.whl"]


def test_plat_for_another_architecture_is_a_usage_error(simple: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = simple
    assert _repair("-w", tmp_path / "o", "--lib-path", libs, "--plat", "manylinux2014_aarch64", wheel) == 2


def test_provided_by_an_installed_distribution_reads_its_file_list(
    simple: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--provided-by`` a distribution the built-in data does not know: its installed RECORD says
    where its libraries land, and the RUNPATH reaches that folder."""
    from importlib import metadata

    wheel, libs = simple

    class _Dist:
        files = (metadata.PackagePath("onelib/lib/libone.so.1"), metadata.PackagePath("onelib/__init__.py"))

    real = metadata.distribution
    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist() if name == "onelib" else real(name))
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, "--provided-by", "onelib", "--format", "json", wheel) == 0
    document = json.loads(capsys.readouterr().out)["wheels"][0]
    assert document["grafts"] == []
    assert document["links"][0]["directory"] == "onelib/lib"
    assert document["runpaths"][0]["after"] == ["$ORIGIN/../onelib/lib"]
    assert document["requirements_added"] == ["onelib"]


def test_no_provider_grafts_a_library_the_builtin_data_would_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A self-contained wheel: ``--no-provider nvidia-cuda-runtime`` grafts a (stand-in)
    libcudart.so.13 from ``--lib-path`` instead of linking to the CUDA runtime wheel."""
    require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libcudart.so.13", "int cudart_value(void) { return 13; }\n")
    wheel = build_extension_wheel(
        tmp_path, libs, ("libcudart.so.13",), declaration="int cudart_value(void);", call="cudart_value()"
    )
    args = ("--dry-run", "--format", "json", "--lib-path", libs, wheel)
    assert _repair("-w", tmp_path / "o", *args) == 0
    linked = json.loads(capsys.readouterr().out)["wheels"][0]
    assert [lk["distribution"] for lk in linked["links"]] == ["nvidia-cuda-runtime"]
    assert linked["grafts"] == []
    out = tmp_path / "o"
    assert _repair("-w", out, "--no-provider", "nvidia-cuda-runtime", "--format", "json", *args[3:]) == 0
    grafted = json.loads(capsys.readouterr().out)["wheels"][0]
    assert grafted["links"] == []
    assert [g["name"] for g in grafted["grafts"]] == ["libcudart.so.13"]
    assert grafted["requirements_added"] == []
    (repaired,) = out.glob("*.whl")
    with zipfile.ZipFile(repaired) as archive:
        assert any(n.startswith("demo.libs/libcudart-") for n in archive.namelist())


def test_provided_by_an_unknown_distribution_is_a_usage_error(
    simple: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, _libs = simple
    assert _repair("-w", tmp_path / "o", "--provided-by", "no-such-dist-xyz", wheel) == 2


def test_json_envelope_and_rerepair_in_place(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, libs = simple
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, "--format", "json", wheel) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["schema_version"], document["tool"]["name"], document["dry_run"]) == (
        1,
        "native-doctor",
        False,
    )
    (repaired,) = out.glob("*.whl")
    before = repaired.read_bytes()
    assert _repair("-w", out, repaired) == 0  # the output folder holds the input: nothing to write
    assert "nothing to do" in capsys.readouterr().out
    assert repaired.read_bytes() == before


def test_a_wheel_cut_anywhere_is_an_input_error_or_cannot_repair_never_a_crash(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, libs = simple
    data = wheel.read_bytes()
    cuts = sorted(
        {1, 30, 100, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 22, len(data) - 1}
    )
    for cut in cuts:
        broken = tmp_path / f"cut{cut}" / wheel.name
        broken.parent.mkdir()
        broken.write_bytes(data[:cut] + bytes(7) + data[cut + 7 :] if cut < len(data) - 22 else data[:cut])
        out = tmp_path / f"out{cut}"
        code = _repair("-w", out, "--lib-path", libs, broken)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), (cut, err)
        assert "internal error" not in err, (cut, err)
        if code != 0:
            assert not out.exists() or not any(out.iterdir()), cut


def test_a_library_the_wheel_ships_out_of_reach_gets_a_runpath_not_a_second_copy(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, libs = simple
    with zipfile.ZipFile(wheel) as src:
        members = {i.filename: src.read(i) for i in src.infolist() if ".dist-info/" not in i.filename}
    members["demo/lib/libone.so.1"] = (libs / "libone.so.1").read_bytes()
    from _wheels import make_wheel

    shipped = make_wheel(
        tmp_path / "w" if (tmp_path / "w").mkdir() is None else tmp_path, wheel.name, members
    )
    out = tmp_path / "o"
    assert _repair("-w", out, "--format", "json", shipped) == 0
    document = json.loads(capsys.readouterr().out)["wheels"][0]
    assert document["grafts"] == []
    assert document["in_wheel"] == [
        {"name": "libone.so.1", "member": "demo/lib/libone.so.1", "directory": "demo/lib",
         "needed_by": [document["runpaths"][0]["member"]]}
    ]  # fmt: skip
    assert document["runpaths"][0]["after"] == ["$ORIGIN/lib"]
    (repaired,) = out.glob("*.whl")
    python = _install_in_fresh_venv(tmp_path / "v", str(repaired))
    proc = _call_ext(python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_extension_under_data_platlib_is_reached_after_install(
    simple: tuple[Path, Path], tmp_path: Path
) -> None:
    """A binary in ``<dist>.data/platlib/`` installs beside the wheel root's ``<dist>.libs``: the
    RUNPATH is computed from install paths, not member names."""
    wheel, libs = simple
    with zipfile.ZipFile(wheel) as src:
        members = {
            (
                f"demo-1.0.data/platlib/{i.filename}" if i.filename.startswith("demo/") else i.filename
            ): src.read(i)
            for i in src.infolist()
            if ".dist-info/" not in i.filename
        }
    (tmp_path / "w").mkdir()
    moved = make_wheel(tmp_path / "w", wheel.name, members)
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, moved) == 0
    (repaired,) = out.glob("*.whl")
    python = _install_in_fresh_venv(tmp_path / "v", str(repaired))
    proc = _call_ext(python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def _moved(wheel: Path, directory: Path, move: str, *, root_is_purelib: bool, keep: bool = False) -> Path:
    """``wheel`` with its ``demo/`` members also (``keep``) or only under ``demo-1.0.data/<move>/``."""
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as src:
        for info in src.infolist():
            if ".dist-info/" in info.filename:
                continue
            if info.filename.startswith("demo/"):
                members[f"demo-1.0.data/{move}/{info.filename}"] = src.read(info)
                if not keep:
                    continue
            members[info.filename] = src.read(info)
    directory.mkdir()
    return make_wheel(directory, wheel.name, members, root_is_purelib=root_is_purelib)


def _install_split(wheel: Path, purelib: Path, platlib: Path) -> None:
    """Install as the wheel spec says, into a purelib and a platlib that are different folders
    (Fedora's lib and lib64): the root by Root-Is-Purelib, ``.data/<scheme>/`` into that scheme."""
    with zipfile.ZipFile(wheel) as archive:
        wheel_text = next(archive.read(n) for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        root = purelib if b"Root-Is-Purelib: true" in wheel_text else platlib
        for info in archive.infolist():
            first, _, rest = info.filename.partition("/")
            if first.endswith(".data"):
                scheme, _, rest = rest.partition("/")
                target = {"purelib": purelib, "platlib": platlib}[scheme] / rest
            else:
                target = root / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod(0o755)


def test_root_is_purelib_wheel_with_platlib_binaries_gets_its_libs_in_platlib(
    simple: tuple[Path, Path], tmp_path: Path
) -> None:
    """Root-Is-Purelib: true, the extension under .data/platlib: <dist>.libs at the root would
    install into purelib, out of the extension's $ORIGIN reach when purelib and platlib differ."""
    wheel, libs = simple
    moved = _moved(wheel, tmp_path / "w", "platlib", root_is_purelib=True)
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, moved) == 0
    (repaired,) = out.glob("*.whl")
    with zipfile.ZipFile(repaired) as archive:
        grafted = [n for n in archive.namelist() if "demo.libs/" in n]
    assert len(grafted) == 1 and grafted[0].startswith("demo-1.0.data/platlib/demo.libs/libone-"), grafted
    purelib, platlib = tmp_path / "lib", tmp_path / "lib64"
    _install_split(repaired, purelib, platlib)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
    env["PYTHONPATH"] = f"{platlib}{os.pathsep}{purelib}"
    proc = subprocess.run(
        [sys.executable, "-c", "import demo._ext as m; print(m.call())"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_binaries_needing_grafts_in_both_schemes_are_refused(
    simple: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, libs = simple
    both = _moved(wheel, tmp_path / "w", "platlib", root_is_purelib=True, keep=True)
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, both) == 1
    err = capsys.readouterr().err
    assert "both purelib (demo/_ext" in err and "platlib (demo-1.0.data" in err, err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda data, edit: data, "DT_NEEDED is", id="edit-not-made"),
        pytest.param(lambda data, edit: data[: len(data) // 2], "verification failed", id="truncated-output"),
    ],
)
def test_an_edit_that_fails_verification_writes_nothing(
    simple: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: object,
    reason: str,
) -> None:
    """The gate itself: a writer that does not do what was asked (here: simulated) is caught by
    re-reading its output, and nothing reaches the output folder."""
    from native_doctor.binary import elf_write

    wheel, libs = simple
    monkeypatch.setattr(elf_write, "edit_elf", damage)
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, wheel) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err
    assert reason in err
    assert not out.exists() or not any(out.iterdir())


def test_libraries_found_through_an_inherited_rpath_are_reached_again(tmp_path: Path) -> None:
    """``_ext`` has DT_RPATH ``$ORIGIN/lib``, which ld.so also uses for what ``_ext`` loads: the
    wheel's ``lib/libA.so.1`` finds ``lib/libC.so.1`` only through it. Grafting ``libX`` turns that
    RPATH into a RUNPATH (not inherited); verification sees libA lose libC, and the repair gives
    libA its own ``$ORIGIN`` instead of failing. The result imports in a venv."""
    gcc = require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libC.so.1", "int c_value(void) { return 5; }\n")
    build_library(libs, "libA.so.1", "int c_value(void);\nint a_value(void) { return c_value() + 1; }\n",
                  needed=("libC.so.1",))  # fmt: skip
    build_library(libs, "libX.so.1", "int x_value(void) { return 10; }\n")
    src = tmp_path / "_ext.c"
    src.write_text(extension_source("_ext", "int a_value(void); int x_value(void);", "a_value() + x_value()"))
    ext = tmp_path / "_ext.so"
    run(gcc, "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", ext, src, f"-L{libs}",
        "-l:libA.so.1", "-l:libX.so.1", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib")  # fmt: skip
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    members = {
        "demo/__init__.py": b"",
        f"demo/_ext{suffix}": ext.read_bytes(),
        "demo/lib/libA.so.1": (libs / "libA.so.1").read_bytes(),
        "demo/lib/libC.so.1": (libs / "libC.so.1").read_bytes(),
    }
    (tmp_path / "w").mkdir()
    wheel = make_wheel(tmp_path / "w", "demo-1.0-cp311-cp311-linux_x86_64.whl", members)
    out = tmp_path / "o"
    assert _repair("-w", out, "--lib-path", libs, wheel) == 0
    (repaired,) = out.glob("*.whl")
    python = _install_in_fresh_venv(tmp_path / "v", str(repaired))
    libs.rename(tmp_path / "gone")
    proc = _call_ext(python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "16"


def test_host_search_order_ld_library_path_then_ld_so_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On this host (x86_64 glibc, as the wheel): a library the ld.so cache lists is found there;
    LD_LIBRARY_PATH comes first; --no-sys-paths turns the host off."""
    require("gcc")
    cached = Path("/lib/x86_64-linux-gnu/libzstd.so.1")
    if not cached.is_file():
        message = f"needs {cached} (Debian's libzstd1) for the ld.so cache case"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    wheel = build_extension_wheel(
        tmp_path, cached.parent, ("libzstd.so.1",), declaration="unsigned ZSTD_versionNumber(void);",
        call="(long)ZSTD_versionNumber()",
    )  # fmt: skip
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert main(["repair", "--dry-run", "--format", "json", "-w", str(tmp_path / "o"), str(wheel)]) == 0
    (graft,) = json.loads(capsys.readouterr().out)["wheels"][0]["grafts"]
    assert graft["found_in"] == "ld.so cache /lib/x86_64-linux-gnu"
    first = tmp_path / "first"
    first.mkdir()
    (first / "libzstd.so.1").write_bytes(cached.read_bytes())
    monkeypatch.setenv("LD_LIBRARY_PATH", str(first))
    assert main(["repair", "--dry-run", "--format", "json", "-w", str(tmp_path / "o"), str(wheel)]) == 0
    (graft,) = json.loads(capsys.readouterr().out)["wheels"][0]["grafts"]
    assert graft["found_in"] == f"LD_LIBRARY_PATH {first}"
    assert main(["repair", "--dry-run", "--no-sys-paths", "-w", str(tmp_path / "o"), str(wheel)]) == 1
