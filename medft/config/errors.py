"""Errors a user fixes by changing an override, a file or an install: printed without a trace."""


class UserError(Exception):
    """Base class: the message names the key, file or line, and how to fix it."""


class ConfigError(UserError, ValueError):
    """A composed config that cannot run; the message says which override to change."""
