"""The two exception types aekit raises on purpose.

Everything a user can get wrong (a missing dataset, a corrupt file, an image of the wrong
size, an unknown option) raises :class:`AekitError` with a message of the form "expected X, got
Y; do Z". The CLI turns it into one line on stderr and a non-zero exit instead of a traceback,
and the HTTP server into a 4xx answer. :class:`AekitError` subclasses ``ValueError``, so code
that catches ``ValueError`` around aekit calls (as it would around numpy or scikit-learn) keeps
working, and so must aekit's own ``except ValueError`` blocks: they catch it too.
"""

from __future__ import annotations


class AekitError(ValueError):
    """A problem with the user's input, files or environment, explained in the message."""


class NotFittedError(AekitError):
    """A fitted-state attribute (``threshold_``, a sampler, a codec table) was used before ``fit``."""
