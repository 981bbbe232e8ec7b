"""The exception tree, sorted by what the caller can do about it.

Every error a user can cause carries a message that says what to do; the CLI prints it without a
traceback and maps the class to an exit code (CONTRACT.md).
"""

from __future__ import annotations

from dataclasses import dataclass


class BackfillError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 2


class UsageError(BackfillError):
    """The command line, the mapping or an input is wrong; nothing was sent (exit 2)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a mapping file, with its YAML line (1-based; 0 when unknown)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class MappingError(UsageError):
    """The mapping has one or more problems; all are reported at once."""

    def __init__(self, path: str, problems: list[Problem]):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem(s) in the mapping:"]
        lines += [f"  {path}:{p.line}: {p.message}" if p.line else f"  {path}: {p.message}"
                  for p in problems]
        super().__init__("\n".join(lines))


class InputError(UsageError):
    """An input cannot be read on at all (missing file, truncated archive, undecodable header)."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = path
        self.line = line
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {message}")
