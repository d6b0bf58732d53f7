"""User-facing errors: printed as one line by the command-line entry points, no traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, path, config value); main prints it and exits 1."""


class ConfigError(UserError):
    """An invalid or impossible configuration value."""
