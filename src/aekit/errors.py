"""The two exception types aekit raises on purpose.

Everything a user can get wrong (a missing dataset, a corrupt file, an image of the wrong
size, an unknown option) raises :class:`AekitError` or one of the builtin ``ValueError`` /
``TypeError`` with a message of the form "expected X, got Y; do Z". The CLI turns these into
one line on stderr and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class AekitError(Exception):
    """A problem with the user's input, files or environment, explained in the message."""


class NotFittedError(AekitError):
    """A fitted-state attribute (``threshold_``, a sampler, a codec table) was used before ``fit``."""
