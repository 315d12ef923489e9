from .architectures import ARCHITECTURES, register_architecture, resolved_hidden
from .autoencoder import AEOutput, Autoencoder, build_model
from .blocks import auto_hidden_sizes, count_parameters, layer_table

__all__ = [
    "ARCHITECTURES", "AEOutput", "Autoencoder", "auto_hidden_sizes", "build_model", "count_parameters",
    "layer_table", "register_architecture", "resolved_hidden",
]
