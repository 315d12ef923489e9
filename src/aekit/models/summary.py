"""``aekit summary``: layers, output shapes, parameter counts and the compression factor.

Works on anything with ``module``, ``config`` (a RunConfig) and ``input_shape``: an
:class:`aekit.Model`.
"""

from __future__ import annotations

from typing import Any

import torch

from .architectures import resolved_hidden
from .blocks import count_parameters, layer_table


def summary_dict(model: Any) -> dict[str, Any]:
    cfg = model.config.model
    module = model.module
    example = torch.zeros(1, *model.input_shape, device=model.device)
    was_training = module.training
    module.eval()
    try:
        rows = layer_table(module, example)
    finally:
        module.train(was_training)
    n_in = int(torch.tensor(model.input_shape).prod())
    info: dict[str, Any] = {
        "preset": model.config.preset,
        "architecture": cfg.architecture,
        "input_shape": list(model.input_shape),
        "input_values": n_in,
        "latent_dim": cfg.code_size,
        "compression_factor": n_in / cfg.code_size,
        "parameters": count_parameters(module),
        "encoder_parameters": count_parameters(module.encoder) + count_parameters(module.latent),
        "decoder_parameters": count_parameters(module.decoder),
        "layers": [{**r, "output": list(r["output"]) if r["output"] is not None else None} for r in rows],
    }
    if cfg.architecture == "mlp":
        hidden = resolved_hidden(cfg)
        info["hidden"] = list(hidden)
        info["hidden_source"] = "auto" if cfg.hidden == "auto" else "given"
        info["sizes"] = [n_in, *hidden, cfg.latent_dim, *reversed(hidden), n_in]
    else:
        info["channels"] = list(cfg.channels)
        info["bottleneck"] = cfg.bottleneck
    return info


def summary_text(model: Any) -> str:
    cfg = model.config.model
    info = summary_dict(model)
    shape = "x".join(map(str, info["input_shape"]))
    lines = [
        f"aekit model  preset={info['preset']}  architecture={info['architecture']}",
        f"input {shape} ({info['input_values']:,} values) -> code {info['latent_dim']}  "
        f"compression factor {info['compression_factor']:.1f}x",
    ]
    if "sizes" in info:
        lines.append(f"layer sizes ({info['hidden_source']}): {' -> '.join(map(str, info['sizes']))}")
    else:
        lines.append(f"conv channels: {' -> '.join(map(str, info['channels']))} (each stage halves H and W)")
        if info["bottleneck"] == "spatial":
            lines.append(f"spatial code: {cfg.latent_dim} channels x {cfg.code_size // cfg.latent_dim} positions")
    lines.append("")
    lines.append(f"{'layer':<18}{'type':<18}{'output shape':<20}{'params':>10}")
    for r in info["layers"]:
        shape = "x".join(map(str, r["output"])) if r["output"] else "-"
        lines.append(f"{r['layer']:<18}{r['type']:<18}{shape:<20}{r['params']:>10,}")
    lines.append("")
    lines.append(f"parameters: {info['parameters']:,} (encoder {info['encoder_parameters']:,}, "
                 f"decoder {info['decoder_parameters']:,})")
    return "\n".join(lines)
