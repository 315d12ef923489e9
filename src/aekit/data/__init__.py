"""Datasets for aekit: built-in sources, IDX files, downloads, image folders, arrays and splits.

Everything loads into :class:`ImageSet` (``(N, H, W, C)`` uint8 or float32 in [0, 1]) and
:class:`Splits` (train / val / test plus a JSON-able ``info`` for the run record)::

    from aekit.data import load_dataset
    splits = load_dataset("mnist", data_dir="~/data")   # checksums verified, download if missing
    splits.train.images.shape                            # (54000, 28, 28, 1)

Modules, one job each: ``imageset`` (containers), ``registry`` (built-in datasets as data),
``download`` (find / fetch / verify files), ``idx`` (IDX format), ``builtin`` (read built-ins),
``folders`` (image files), ``arrays`` (``.npy`` / ``.npz``), ``convert`` (resize, channels),
``splits`` (seeded splits), ``imagefiles`` (``read_images`` / ``write_image``), ``sources``
(the registered kinds of source ``load_dataset`` tries: built-in, folder, array file), ``load``
(``load_dataset``).
"""

from aekit.data.builtin import resolve_data_dir
from aekit.data.idx import read_idx, write_idx
from aekit.data.imagefiles import read_images, write_image
from aekit.data.imageset import ImageSet, Splits
from aekit.data.load import default_dataset, load_dataset, load_split, load_splits
from aekit.data.registry import BUILTINS, DatasetSpec, FileSpec, dataset_names

__all__ = [
    "BUILTINS",
    "DatasetSpec",
    "FileSpec",
    "ImageSet",
    "Splits",
    "dataset_names",
    "default_dataset",
    "load_dataset",
    "load_split",
    "load_splits",
    "read_idx",
    "read_images",
    "resolve_data_dir",
    "write_idx",
    "write_image",
]
