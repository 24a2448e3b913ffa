"""External (non-Python) dependencies: PEP 725 ``[external]`` metadata and PEP 804 name mappings."""
