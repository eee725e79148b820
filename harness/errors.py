"""Errors that the suite turns into one-line messages instead of tracebacks."""


class BenchError(Exception):
    """A problem the user can fix; the message says what and how, on one line."""


class DataError(BenchError):
    """Missing, corrupt or unpreparable dataset files."""


class DataUnavailable(DataError):
    """An optional dataset that cannot be obtained here; its cases skip with this reason."""


class Diverged(BenchError):
    """The training loss became NaN or infinite."""
