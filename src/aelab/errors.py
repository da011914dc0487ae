"""User-facing errors: a mistake in a config or a dataset, reported as one clear line."""

import contextlib
import sys


class AelabError(Exception):
    """A problem the user can fix (bad config value, missing dataset, ...).

    The message must name the problem and the fix; entry points print it without a
    stack trace, because the trace would only point into our code, not at the mistake.
    """


class LeftAsItWas(AelabError):
    """A refusal that must leave the run dir untouched (it holds another run, or the resume
    would change what its checkpoint fixes): not even a failure record is written there."""


@contextlib.contextmanager
def exit_on_user_error():
    """Turn an AelabError, or a full disk or read-only filesystem met anywhere (a logger
    writing its file, say), into a one-line message on stderr and exit status 2."""
    try:
        yield
    except AelabError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:
        from aelab.files import disk_problem  # aelab.files imports this module

        message = disk_problem(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
