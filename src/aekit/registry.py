"""The registries: name -> entry tables that the rest of aekit reads its choices from.

Each kind of interchangeable part has one :class:`Registry`, filled by a ``register_*``
decorator next to the part's code (as CompressAI's ``compressai/registry/torch.py`` does with
plain dicts)::

    CORRUPTIONS    objectives/corruptions.py    register_corruption("gaussian", ...)
    REGULARISERS   objectives/regularisers.py   register_regulariser("l1")
    LIKELIHOODS    objectives/reconstruction.py register_likelihood("bce", ...)
    LATENTS        models/latents.py            register_latent("gaussian")
    SOURCES        data/sources.py              register_source("folder", ...)
    ARCHITECTURES  models/architectures.py     register_architecture("mlp", kinds=("image", "vector"), ...)

Importing ``aekit`` imports those modules, so the tables are full by the time a config is
validated, ``--help`` is printed or ``GET /models`` answers: all three list what is registered,
and nothing else keeps a second list of names. A part registered from outside the package
(a test, a user's script) is then accepted by name everywhere, like a built-in one.

This module is the lowest layer: it imports nothing of aekit but :mod:`aekit.errors`, and it
knows nothing about what the entries are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import AekitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in the order they were registered.

    Args:
        kind: what an entry is, for messages (``"corruption"`` -> "unknown corruption 'foo'").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T]:
        """Add ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates.

        Raises:
            AekitError: ``name`` is taken (remove the old entry first to replace it).
        """
        if not isinstance(name, str) or not name:
            raise AekitError(f"a {self.kind} needs a non-empty name; got {name!r}")

        def add(obj: T) -> T:
            if name in self._entries:
                raise AekitError(f"a {self.kind} named {name!r} is already registered; pick another name "
                                 f"(or remove the old entry first: .remove({name!r}))")
            self._entries[name] = obj
            return obj

        if entry is not None:
            add(entry)
        return add

    def remove(self, name: str) -> T:
        """Take ``name`` out again (a test cleaning up after itself); returns its entry."""
        self.get(name)
        return self._entries.pop(name)

    def get(self, name: str) -> T:
        """The entry named ``name``.

        Raises:
            AekitError: no such entry; the message lists the valid names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise AekitError(f"unknown {self.kind} {name!r}; valid: {', '.join(self._entries) or '(none)'}") from None

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries) or 'empty'})"


CORRUPTIONS: Registry = Registry("corruption")
REGULARISERS: Registry = Registry("regulariser")
LIKELIHOODS: Registry = Registry("reconstruction likelihood")
LATENTS: Registry = Registry("latent")
SOURCES: Registry = Registry("data source")
ARCHITECTURES: Registry = Registry("architecture")

__all__ = ["ARCHITECTURES", "CORRUPTIONS", "LATENTS", "LIKELIHOODS", "REGULARISERS", "SOURCES", "Registry"]
