"""User-facing errors of the FID tools.

A ``UserError`` is a mistake the user can fix (missing weights, empty folder,
bad statistics file). Entry points catch it, print its one-line message and
exit with status 1 instead of showing a traceback (STYLE.md item 13).
"""


class UserError(Exception):
  """An error whose message tells the user what is wrong and how to fix it."""
