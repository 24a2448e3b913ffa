"""All I/O happens here: wheels (zip members, never extracted) and installed environments."""
