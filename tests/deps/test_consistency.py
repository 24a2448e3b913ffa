"""The deps data files agree with each other: inference proposes ids the registry knows."""

from __future__ import annotations

import json
import re
from importlib import resources

from native_doctor.deps import mapping

#: Ids inference may propose although the registry lacks them (virtual compilers of languages
#: that rarely build Python extensions, and projects without a packaging consensus yet).
NOT_YET_REGISTERED = {
    "dep:generic/arrow",
    "dep:generic/libiconv",
    "dep:generic/xxhash",
    "dep:generic/yasm",
    "dep:virtual/compiler/c-sharp",
    "dep:virtual/compiler/obj-c",
    "dep:virtual/compiler/obj-cxx",
    "dep:virtual/compiler/swift",
    "dep:virtual/compiler/zig",
}


def test_inference_proposes_registered_ids() -> None:
    text = resources.files("native_doctor.deps").joinpath("inference.json").read_text(encoding="utf-8")
    proposed = set(re.findall(r'"(dep:[^"]+)"', text))
    unknown = proposed - set(mapping.registry().entries)
    assert unknown == NOT_YET_REGISTERED, "add these to deps/data/registry.json or fix inference.json"
    assert json.loads(text)
