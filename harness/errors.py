"""Exceptions the harness raises for bad user input.

Every user-facing input problem is reported as one :class:`HarnessError` whose message names the
file, the line (where there is one) and what is wrong, so the CLI can print it without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing file, unknown name). The CLI prints it plainly."""


class DataFormatError(HarnessError, ValueError):
    """A data file does not follow its declared format.

    Args:
        path: the offending file.
        line: 1-based line number, or ``None`` when the problem is not tied to one line.
        problem: what is wrong, phrased for the user (e.g. "label index 160 out of range [0, 159)").
    """

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class OptionalDependencyError(HarnessError, ImportError):
    """A model needs an optional extra that is not installed (e.g. ``pecos``); the message says how to get it.

    An ImportError too, so code that probes optional packages with ``except ImportError`` keeps working, and a
    class of its own, so the contract tests can skip exactly this case and still fail on a broken import.
    """
