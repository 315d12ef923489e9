"""Writes this folder: a model saved by aekit before fitted state was typed (commit 4fb6ed2).

Run once with that aekit on the path (``PYTHONPATH=<checkout of 4fb6ed2>/src python make.py``);
``tests/test_fitted.py`` checks that today's aekit loads ``model/`` with its fitted sampler,
anomaly threshold and code tables, decodes ``images.aek`` and reproduces ``expected.npz``.
"""

from pathlib import Path

import numpy as np
import torch

from aekit.codec import Codec, fit_codec
from aekit.data.preprocess import Preprocessing
from aekit.model import Model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.tasks.anomaly import AnomalyDetector
from aekit.tasks.generate import fit_sampler, generate

HERE = Path(__file__).resolve().parent

torch.manual_seed(0)
run = build_run_config("codec", input_shape=(1, 8, 8), model={"latent_dim": 6, "channels": (4, 8)})
module = build_model(run.model)
with torch.no_grad():  # spread the codes over several integers so the tables have work to do
    module.encoder[-1].weight.mul_(8)
model = Model(module, Preprocessing((1, 8, 8)), run)
images = np.random.default_rng(0).integers(0, 256, size=(60, 8, 8, 1), dtype=np.uint8)
fit_sampler(model, images, n_components=2, seed=0)
AnomalyDetector(model, contamination=0.1).fit(images)
fit_codec(model, images, steps=(1.0, 0.5))
model.save(HERE / "model")
probe = images[:3]
(HERE / "images.aek").write_bytes(Codec(model, 1.0).compress(probe))
det = AnomalyDetector.from_model(model)
np.savez(HERE / "expected.npz", probe=probe, decoded=Codec(model, 1.0).decompress((HERE / "images.aek").read_bytes()),
         generated=generate(model, 4, seed=1), scores=det.score_samples(probe), threshold=det.threshold_,
         steps=np.array([1.0, 0.5]))
