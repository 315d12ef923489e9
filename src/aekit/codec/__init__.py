"""Learned image compression to real files: ``.aek`` = header + range-coded quantised code.

- :mod:`aekit.codetables`: per-dimension symbol tables fitted on training codes (:class:`CodePrior`),
  saved with the model as the fitted component ``"codec"`` (:class:`CodeTables`);
- :mod:`.container`: the file layout (magic, version, model id, shape, step, count, CRC) and
  the range coder (``constriction``);
- :mod:`.codec`: :class:`Codec` (images <-> bytes) and :func:`fit_codec`.

Training for compression is the ``codec`` preset: a quantised latent (uniform noise while
training) with a learned factorised density, and the objective's ``rate`` term.
"""

from ..codetables import CodePrior, CodeTables
from .codec import Codec, fit_codec, fit_codec_from_training_data, fitted_steps, read_step
from .container import FORMAT_VERSION, MAGIC, SUFFIX

__all__ = ["FORMAT_VERSION", "MAGIC", "SUFFIX", "Codec", "CodePrior", "CodeTables", "fit_codec",
           "fit_codec_from_training_data", "fitted_steps", "read_step"]
