"""Write ``src/native_doctor/checks/data/stable_abi.json``: every stable-ABI symbol and the version added.

The facts come from CPython's ``Misc/stable_abi.toml`` (the one list of the Limited API and
Stable ABI; every ``[function.X]`` and ``[data.X]`` item has ``added = '3.x'``)::

    python scripts/gen_stable_abi.py --toml path/to/cpython/Misc/stable_abi.toml

Without ``--toml`` the same facts are taken from the ``abi3info`` distribution (PyPI), which
ships them generated from that file (``pip install abi3info``; abi3audit depends on it)::

    python scripts/gen_stable_abi.py --abi3info

Only symbol names and versions are written (functions and data; macros, constants, structs and
typedefs are not linker symbols). Items marked ``abi_only`` are part of the stable ABI (private
functions that public macros call, such as ``_Py_Dealloc``) and are included: an extension may
import them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tomllib
from pathlib import Path

TARGET = (
    Path(__file__).resolve().parent.parent / "src" / "native_doctor" / "checks" / "data" / "stable_abi.json"
)


def from_toml(path: Path) -> dict[str, str]:
    """Symbol -> version added, from a local copy of CPython's Misc/stable_abi.toml."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    symbols: dict[str, str] = {}
    for kind in ("function", "data"):
        for name, item in document.get(kind, {}).items():
            symbols[name] = str(item["added"])
    return symbols


def from_abi3info() -> tuple[dict[str, str], str]:
    """Symbol -> version added, from the installed abi3info distribution (and its version)."""
    from importlib import metadata

    import abi3info  # type: ignore[import-untyped, import-not-found, unused-ignore]

    symbols: dict[str, str] = {}
    for table in (abi3info.FUNCTIONS, abi3info.DATAS):
        for item in table.values():
            symbols[item.symbol.name] = f"{item.added.major}.{item.added.minor}"
    return symbols, metadata.version("abi3info")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def render(symbols: dict[str, str], source: str, date: str) -> str:
    """The JSON document (stable key order, one symbol per line)."""
    document = {
        "schema_version": 1,
        "source": source,
        "date": date,
        "symbols": {name: symbols[name] for name in sorted(symbols)},
    }
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--toml", type=Path, help="CPython's Misc/stable_abi.toml")
    group.add_argument("--abi3info", action="store_true", help="use the installed abi3info package")
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    today = datetime.date.today().isoformat()
    if args.toml is not None:
        symbols = from_toml(args.toml)
        source = f"CPython Misc/stable_abi.toml ({args.toml.name}): [function.*] and [data.*] items, 'added'"
    else:
        symbols, version = from_abi3info()
        source = (
            f"abi3info {version} (PyPI; generated from CPython Misc/stable_abi.toml): FUNCTIONS and DATAS, "
            "'added' version of each symbol"
        )
    if not symbols or not all(_version_key(v) >= (3, 2) for v in symbols.values()):
        print("no symbols read, or a version below 3.2", file=sys.stderr)
        return 1
    args.output.write_text(render(symbols, source, today), encoding="utf-8")
    print(f"{args.output}: {len(symbols)} symbols, newest {max(symbols.values(), key=_version_key)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
