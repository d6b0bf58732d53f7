"""User-facing errors: printed as one line by the command-line entry points, no traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, path, config value); main prints it and exits 1."""


class ConfigError(UserError):
    """An invalid or impossible configuration value."""


def exit_on_user_error(fn, *args):
    """fn(*args), with a UserError printed as one `error:` line and exit code 1."""
    import sys

    try:
        return fn(*args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def run_cli(main) -> None:
    """absl's app.run(main), with a UserError printed as one `error:` line and exit code 1."""
    from absl import app

    exit_on_user_error(app.run, main)
