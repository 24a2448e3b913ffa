"""Environment checks (ND7xx): what the loader simulation, the host and the binaries' markers
predict for imports in the installed environment."""

from __future__ import annotations
