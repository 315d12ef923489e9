"""aekit: autoencoders as real tools.

Train them, measure them honestly, and put them to work::

    import aekit
    model = aekit.train("deep", dataset="mnist", latent_dim=32, epochs=20, out="runs/deep32")  # a run folder
    model = aekit.fit(images_uint8, preset="deep", latent_dim=32, epochs=20)   # in memory, nothing written
    model = aekit.load("runs/deep32")
    codes = model.encode(images_uint8)          # (N, 32)
    recon = model.reconstruct(images_uint8)     # uint8 in, uint8 out

Corruptions, regularisers, reconstruction likelihoods, latents and data sources are registered
parts (:mod:`aekit.registry`); ``aekit.register_corruption`` and its siblings add one from
outside, and it then works by name everywhere a built-in one does.
"""

from ._version import __version__
from .config import DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig
from .data.series import TimeSeries, read_series
from .data.sources import register_source
from .errors import AekitError, NotFittedError
from .fitting import fit
from .model import Model, load_model, save_model
from .models import AEOutput, Autoencoder, build_model
from .models.latents import register_latent
from .objectives import Objective, build_objective, register_corruption, register_likelihood, register_regulariser
from .presets import PRESETS, preset_names
from .runs.train import train
from .tasks.series import SeriesDetector


def load(path, *, device: str = "cpu") -> Model:
    """Load a saved model from a model folder or a run folder (``RUN/model``)."""
    return load_model(path, device=device)


def evaluate(run_or_model, *, dataset=None, data_dir=None, split: str = "test"):
    """Evaluate a run or model on its dataset's test split; returns the metrics dict."""
    from .runs.evaluate import evaluate_saved

    return evaluate_saved(run_or_model, dataset=dataset, data_dir=data_dir, split=split)


__all__ = [
    "AEOutput", "AekitError", "Autoencoder", "DataConfig", "Model", "ModelConfig", "NotFittedError",
    "Objective", "ObjectiveConfig", "PRESETS", "RunConfig", "TrainConfig", "__version__", "build_model",
    "build_objective", "evaluate", "fit", "load", "load_model", "preset_names", "register_corruption",
    "register_latent", "register_likelihood", "register_regulariser", "register_source", "save_model", "train",
    "SeriesDetector", "TimeSeries", "read_series",
]
