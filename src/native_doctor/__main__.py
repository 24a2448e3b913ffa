"""Allow ``python -m native_doctor``."""

from native_doctor.cli import entrypoint

entrypoint()
