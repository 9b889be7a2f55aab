"""Error types shared by the library and the CLI."""


class GanjobsError(Exception):
    """Bad input or usage: the CLI prints ``error: <message>`` and exits with code 2."""


class DataError(GanjobsError):
    """Input data breaks a rule of the input layout (docs/formats.md §2)."""


class StorageError(GanjobsError):
    """A location cannot be read or written (missing bucket, bad credentials, ...)."""
