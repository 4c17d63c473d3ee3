"""Exit codes of the command line, one mapping for every subcommand."""

from __future__ import annotations

from activity_toolkit.exceptions import (
    ActivityToolkitError,
    ApiError,
    CredentialsError,
    FetchError,
    InputError,
    PaginationError,
    StoreError,
    TransportError,
)

__all__ = [
    "EXIT_API",
    "EXIT_ERROR",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "exit_code",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_STORE = 4
EXIT_API = 5
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM


def exit_code(error: ActivityToolkitError) -> int:
    """2 unusable credentials or API URL, 3 bad input data, 4 store problem, 5 API or
    network problem, 1 otherwise."""
    if isinstance(error, CredentialsError):
        return EXIT_USAGE
    if isinstance(error, InputError):
        return EXIT_INPUT
    if isinstance(error, StoreError):
        return EXIT_STORE
    if isinstance(error, ApiError | TransportError | PaginationError | FetchError):
        return EXIT_API
    return EXIT_ERROR
