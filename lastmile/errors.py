"""Errors the command line turns into one readable line (no traceback)."""


class LastmileError(Exception):
    """An expected failure with a message meant for the person at the terminal."""

    exit_code = 1


class ConfigError(LastmileError):
    """A flag or environment variable has a value we cannot use."""

    exit_code = 2


class StackError(LastmileError):
    """A local component could not be started, reached or stopped."""
