"""The ``autodl`` command line: parses, calls the library, renders with rich."""
