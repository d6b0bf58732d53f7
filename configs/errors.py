"""User-facing errors: printed as one line by the command-line entry points, no traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, path, config value); main prints it and exits 1."""


class ConfigError(UserError):
    """An invalid or impossible configuration value."""


def run_cli(main) -> None:
    """absl's app.run(main), with a UserError printed as one `error:` line and exit code 1."""
    import sys

    from absl import app

    try:
        app.run(main)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
