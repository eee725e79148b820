"""Errors that the suite turns into one-line messages instead of tracebacks."""


class BenchError(Exception):
    """A problem the user can fix; the message says what and how, on one line."""


class DataError(BenchError):
    """Missing, corrupt or unpreparable dataset files."""


class DataUnavailable(DataError):
    """An optional dataset that cannot be obtained here; its cases skip with this reason."""


class Diverged(BenchError):
    """The training loss became NaN or infinite."""


class CaseSkipped(Exception):
    """A case that does not run here (no data, another profile, already done); the pytest layer
    (conftest.py) reports it as skipped with this reason. Not a BenchError: it is not recorded
    as an error."""


class CaseFailed(Exception):
    """A case whose record is written and did not pass; the pytest layer fails the test with
    this one line and no traceback."""
