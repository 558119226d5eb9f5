"""Errors a user can act on: each says what is wrong and how to fix it.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
anything that is not a :class:`StylecapError` is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class StylecapError(Exception):
    """A failure caused by input, data or environment, not by a bug in stylecap."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem} ({self.fix})" if self.fix else self.problem


class UsageError(StylecapError):
    """The request itself is wrong: an unknown name, a bad option value, a missing file."""

    exit_code = 2


class UnknownComponentError(UsageError, LookupError):
    """No component of that kind is registered under that name."""


class ConfigError(UsageError, ValueError):
    """A configuration value does not fit its field."""


class PluginError(StylecapError):
    """A plugin failed to import, register, or broke a registry rule."""


class ImageError(StylecapError):
    """An image file cannot be read or written."""


class CheckpointError(StylecapError):
    """A checkpoint or saved pipeline cannot be read or written."""


def debug() -> bool:
    """``STYLECAP_DEBUG=1``: show tracebacks (of user errors, failed inputs and failed plugins) too."""
    return os.environ.get("STYLECAP_DEBUG", "") not in ("", "0")
