#!/usr/bin/env python3
"""An ``otool`` stand-in for delocate's analysis on a Linux host (tests only).

delocate runs ``otool -arch all -m -L|-D|-l FILE``; ``llvm-objdump --macho --arch=all`` prints the
same layout (a ``FILE (architecture ARCH):`` header per fat slice, ``FILE:`` for a thin file).
"""

import os
import subprocess
import sys

FLAGS = {"-L": "--dylibs-used", "-D": "--dylib-id", "-l": "--private-headers"}


def main(argv: list[str]) -> int:
    flags = [FLAGS[a] for a in argv if a in FLAGS]
    files = [a for a in argv if not a.startswith("-") and a != "all"]
    objdump = os.environ.get("NATIVE_DOCTOR_OBJDUMP", "llvm-objdump-14")
    return subprocess.run([objdump, "--macho", "--arch=all", *flags, *files], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
