"""The exception tree, sorted by what the caller can do about it.

    BackfillError                  every error the tool raises on purpose; `exit_code`
    ├── UsageError          (2)    the call, the command line or the mapping is wrong: fix it
    │   └── MappingError    (2)    the mapping's problems, all of them, with their YAML lines
    ├── InputError          (2)    an input cannot be read at all: fix or replace the input
    └── Stopped             (3)    the run stopped early; the checkpoint is saved: run it again
        ├── RetriesExhausted       a request kept failing (network, 5xx, 429)
        ├── EndpointUnreachable    the region lookup could not reach the API
        ├── Interrupted            Ctrl-C or SIGTERM
        ├── WaitTooLong            the API asked to wait longer than --max-wait
        ├── OutputFailed           a checkpoint, journal, state or rejects write failed (disk full)
        ├── InputChanged           an input changed while it was read
        └── Refused         (4)    stopped by what running again cannot fix: fix it first
            ├── CredentialsRefused the API refused the Site ID / API key (HTTP 401/403)
            ├── WrongEndpoint      the endpoint is not the API's root (404/405)
            ├── Redirected         the endpoint answered with a redirect (3xx): never followed
            ├── NotTrackApi        an answer that is not the Track API's (HTML, empty, not JSON)
            └── ApiRefusing        HTTP 400 for request after request (a firewall, say)

Every error carries a message that says what to do; the CLI prints it without a traceback and
exits with the class's `exit_code` (2: nothing was sent; 3: resumable; 4: resumable once the
cause is fixed). Rows the tool cannot use
are not errors: they go to the rejects file, and the run goes on.
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


class InputError(BackfillError):
    """An input cannot be read on at all (missing file, truncated archive, undecodable header)."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = path
        self.line = line
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {message}")


class Stopped(BackfillError):
    """The run stopped early; the checkpoint is saved and the same call resumes (exit 3)."""

    exit_code = 3
    checkpoint: str | None = None  # where the run's checkpoint is saved (None: not kept)


class Refused(Stopped):
    """Stopped by what a retry cannot fix (exit 4): the checkpoint is saved, and the same call
    resumes once the cause (credentials, endpoint, region, a proxy in the way) is fixed."""

    exit_code = 4


class CredentialsRefused(Refused):
    """The Track API refused the credentials (401/403): nothing more is sent."""


Unauthorized = CredentialsRefused  # the name used before 0.2


class RetriesExhausted(Stopped):
    """One request failed as many times in a row as the retry policy allows."""


class EndpointUnreachable(Stopped):
    """The API could not be reached or answered oddly before anything was sent."""


class WrongEndpoint(Refused):
    """The endpoint answered 404/405 for a path of the API itself: a configuration error."""


class Redirected(Refused):
    """The endpoint answered a request with a redirect (3xx), which is never followed: a POST
    turned into a GET, or personal data posted to another host, would be counted delivered."""


class NotTrackApi(Refused):
    """A 2xx or 400 whose body is not the Track API's JSON (a proxy's or portal's page)."""


class ApiRefusing(Refused):
    """HTTP 400 for request after request: something refuses every body (the breaker)."""


class WaitTooLong(Stopped):
    """The API asked (Retry-After) for a pause longer than the run's --max-wait."""


class OutputFailed(Stopped):
    """A file the run keeps (checkpoint, journal, state, rejects) could not be written: sending
    stopped at once; the last checkpoint saved is valid."""


class InputChanged(Stopped):
    """An input was changed, truncated or replaced while it was read."""


class Interrupted(Stopped):
    """Ctrl-C or SIGTERM: requests in flight were finished and the checkpoint saved."""
