"""Data sources: the kinds of thing ``--dataset`` may name, tried in order.

Each kind is one function registered with :func:`register_source` (in
:data:`aekit.registry.SOURCES`): a test saying whether a dataset name is of that kind, and a
loader returning the source's own sets (``"train"``/``"test"``/``"val"``, or ``"all"`` when it
has no splits), a JSON-able ``info`` and the name to show. The first source that claims a name
loads it, so a built-in name wins over a same-named folder in the working directory (write
``./mnist`` to mean the folder). The built-in datasets themselves are a table of their own,
:data:`aekit.data.registry.BUILTINS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.data.arrays import load_array_file
from aekit.data.builtin import load_builtin
from aekit.data.download import hash_file
from aekit.data.folders import load_folder
from aekit.data.imageset import ImageSet
from aekit.data.registry import BUILTINS, canonical_name
from aekit.registry import SOURCES

Name = str | os.PathLike
# load(name, official, *, data_dir, download, progress, size, channels) -> (sets, info, display name)
Loader = Callable[..., tuple[dict[str, ImageSet], dict[str, Any], str]]


@dataclass(frozen=True)
class Source:
    """A registered kind of data source.

    Attributes:
        name: the kind's name (``builtin``, ``folder``, ``array``).
        describe: what it accepts, for the error naming every kind (``"a folder of images"``).
        claims: ``claims(name) -> bool``: whether a dataset name is of this kind.
        load: ``load(name, official, *, data_dir, download, progress, size, channels)``;
            ``official`` are the splits asked of sources that have their own.
    """

    name: str
    describe: str | Callable[[], str]
    claims: Callable[[Name], bool]
    load: Loader

    def description(self) -> str:
        return self.describe() if callable(self.describe) else self.describe


def register_source(name: str, *, describe: str | Callable[[], str],
                    claims: Callable[[Name], bool]) -> Callable[[Loader], Loader]:
    """Register ``load`` as the data source kind ``name`` (tried after those registered before it)."""
    def add(load: Loader) -> Loader:
        SOURCES.register(name, Source(name, describe, claims, load))
        return load
    return add


def find_source(name: Name) -> Source | None:
    """The first registered source that claims ``name``, or ``None``."""
    return next((source for source in SOURCES.values() if source.claims(name)), None)


def accepted() -> str:
    """Every kind in words: "a built-in dataset (...), a folder of images or a .npy/.npz file"."""
    words = [source.description() for source in SOURCES.values()]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# --------------------------------------------------------------------------- the built-in kinds
@register_source("builtin", describe=lambda: f"a built-in dataset ({', '.join(BUILTINS)})",
                 claims=lambda name: isinstance(name, str) and canonical_name(name) is not None)
def builtin_dataset(name: Name, official: Sequence[str], *, data_dir, download, progress, size, channels):
    """A dataset of :data:`BUILTINS`, with its official splits and verified files."""
    key = canonical_name(str(name))
    sets, info = load_builtin(BUILTINS[key], official, data_dir=data_dir, download=download, progress=progress)
    return sets, info, key


@register_source("folder", describe="a folder of images", claims=lambda name: Path(name).expanduser().is_dir())
def image_folder(name: Name, official: Sequence[str], *, data_dir, download, progress, size, channels):
    """Every image in a folder (one sub-folder per class gives labels)."""
    path = Path(name).expanduser()
    sets = {"all": load_folder(path, size=size, channels=channels)}
    return sets, {"source": str(path.resolve()), "files": [], "num_files": len(sets["all"])}, str(name)


def _is_array_file(name: Name) -> bool:
    path = Path(name).expanduser()
    return path.is_file() and path.suffix.lower() in (".npy", ".npz")


@register_source("array", describe="a .npy/.npz file", claims=_is_array_file)
def array_file(name: Name, official: Sequence[str], *, data_dir, download, progress, size, channels):
    """Images in a ``.npy`` or ``.npz`` file (see :func:`aekit.data.arrays.load_array_file`)."""
    path = Path(name).expanduser()
    sets = load_array_file(path)
    info = {"source": str(path.resolve()),
            "files": [{"name": path.name, "path": str(path.resolve()), "size": path.stat().st_size,
                       "sha256": hash_file(path, "sha256"), "verified": False}]}
    return sets, info, str(name)
