"""``aekit serve``: saved models behind an HTTP API (FastAPI + uvicorn), with the web viewer."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_dir, add_device


def add_server_options(p: argparse.ArgumentParser, port: int = 8000) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run or model folders to serve (NAME=PATH names one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per inference (default 1: many small requests run side by side)")
    p.add_argument("--workers", type=int, default=4, help="inferences at once, off the event loop (default 4)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request body and per inference")
    p.add_argument("--max-batch", type=int, default=256, help="most images per request (default 256)")
    p.add_argument("--max-body", type=int, default=4 << 20, metavar="BYTES", help="largest request body")
    p.add_argument("--test-images", type=int, default=300,
                   help="test images of each model's dataset offered by the viewer (default 300; 0: none)")
    add_data_dir(p)
    add_device(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve models over HTTP (encode, decode, reconstruct, denoise, inpaint, generate, ...)",
        description="Load one or several saved models and serve them with FastAPI + uvicorn: POST /encode, /decode, "
                    "/reconstruct, /denoise, /inpaint, /generate, /interpolate (PNG uploads or JSON arrays); "
                    "GET /health, /models; OpenAPI docs at /docs; the web viewer at /viewer/.",
        epilog="example: aekit serve runs/conv32 runs/vae=runs/vae-mnist --port 8000",
    )
    add_server_options(p)
    p.set_defaults(func=run)


def load_models(specs: list[str], device: str) -> dict:
    from ..model import load_model

    models: dict = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or Path(spec).exists():
            path = spec
            folder = Path(spec).resolve()
            name = folder.parent.name if folder.name == "model" else folder.name
        base, n = name, 2
        while name in models:
            name, n = f"{base}-{n}", n + 1
        models[name] = load_model(path, device=device)
    return models


def build(args: argparse.Namespace):
    import torch

    from ..errors import AekitError
    from ..serve import Limits, create_app

    for name in ("threads", "workers", "max_batch", "max_body"):
        if getattr(args, name) < 1:
            raise AekitError(f"--{name.replace('_', '-')}: expected a positive number; got {getattr(args, name)}")
    if args.timeout <= 0:
        raise AekitError(f"--timeout: expected seconds > 0; got {args.timeout}")
    torch.set_num_threads(args.threads)
    limits = Limits(max_body_bytes=args.max_body, max_batch=args.max_batch, timeout_s=args.timeout,
                    workers=args.workers)
    return create_app(load_models(args.runs, args.device), limits=limits, test_images=args.test_images,
                      data_dir=args.data_dir)


def serve(app, args: argparse.Namespace, on_start=None) -> int:
    try:
        import uvicorn
    except ImportError:
        from ..errors import AekitError

        raise AekitError("serving needs fastapi and uvicorn; install them with: pip install 'aekit[serve]'") from None
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5,
                            access_log=False)
    server = uvicorn.Server(config)
    url = f"http://{args.host}:{args.port}"
    print(f"aekit: listening on {url} (API docs {url}/docs, viewer {url}/viewer/); Ctrl+C stops")
    if on_start is not None:
        on_start(url)
    server.run()
    return 0


def run(args: argparse.Namespace) -> int:
    return serve(build(args), args)
