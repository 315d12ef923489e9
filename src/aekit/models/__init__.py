from .autoencoder import AEOutput, Autoencoder, build_model, resolved_hidden
from .blocks import auto_hidden_sizes, count_parameters, layer_table

__all__ = [
    "AEOutput", "Autoencoder", "auto_hidden_sizes", "build_model", "count_parameters",
    "layer_table", "resolved_hidden",
]
