"""Find the directories a package adds to the Windows DLL search when it is imported.

delvewheel (and numpy's older ``_distributor_init.py``) make vendored DLLs loadable by calling
``os.add_dll_directory`` (or preloading them) from a package's ``__init__.py``; other packages do
it from a private module their ``__init__.py`` imports first (google-crc32c's ``__config__.py``
adds ``google_crc32c/extra-dll``). The call builds
the directory from string literals (``'numpy.libs'``, ``'.libs'``); a literal that names an
existing directory, relative to site-packages or to the file's own directory, is taken as added.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

__all__ = ["HOOK_FILES", "directories_of", "dll_directories", "is_hook_file"]

#: Files that may carry the hook: top-level packages' ``__init__.py`` and their private modules
#: (``_distributor_init.py``, ``_delvewheel_patch*.py``, ``__config__.py``, ...).
HOOK_FILES = re.compile(r"^[^/]+/(?:__init__|_[^/]*)\.py$")
_HOOK_CALLS = (b"add_dll_directory", b"LoadLibraryEx", b"WinDLL")
_LITERAL = re.compile(rb"""['"]([^'"\n\\]{1,200})['"]""")

#: The top-level module native-doctor's Windows repair imports from a ``.pth`` file (namespace
#: packages and top-level extension modules have no ``__init__.py`` to carry the hook).
REPAIR_HOOK_MODULE = re.compile(r"^_\w+_dll_hook\.py$")


def is_hook_file(install_path: str) -> bool:
    """True for files worth scanning for a DLL-directory hook."""
    return HOOK_FILES.match(install_path) is not None or REPAIR_HOOK_MODULE.match(install_path) is not None


def dll_directories(hooks: Iterable[tuple[str, bytes]], directories: set[str]) -> tuple[str, ...]:
    """Existing directories named by string literals in files that call a DLL-search hook.

    :param hooks: (install path, contents) of the files :func:`is_hook_file` selected.
    :param directories: every directory (install path) of the artifact.
    """
    found: list[str] = []
    for path, text in hooks:
        if not any(call in text for call in _HOOK_CALLS):
            continue
        here = posixpath.dirname(path)
        for match in _LITERAL.finditer(text):
            literal = match.group(1).decode("utf-8", "replace").strip("/")
            for candidate in (literal, posixpath.normpath(posixpath.join(here, literal))):
                if candidate in directories and candidate not in found:
                    found.append(candidate)
    return tuple(found)


def directories_of(paths: Iterable[str]) -> set[str]:
    """Every directory that contains at least one of ``paths``."""
    result: set[str] = set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent not in result:
            result.add(parent)
            parent = posixpath.dirname(parent)
    return result
