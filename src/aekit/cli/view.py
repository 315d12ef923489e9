"""``aekit view``: the interactive viewer (input, corrupted input, output; keys add noise; latent sliders)."""

from __future__ import annotations

import argparse

from .serve import add_server_options, build, serve


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view", help="open the interactive web viewer on a model (press space to add noise)",
        description="Serve the model (as 'aekit serve' does) and open the viewer page: step through test images "
                    "(arrow keys), draw or upload your own, see input / corrupted input / output side by side; "
                    "space adds noise, g/s/m/b switch Gaussian / salt-and-pepper / masking / blocks, r resets. "
                    "VAEs and 2-D latents get sliders over the latent dimensions and an interpolation slider. "
                    "The page is plain HTML/JS/CSS served by the same app and works offline.",
        epilog="example: aekit view runs/conv-denoising-mnist",
    )
    add_server_options(p, port=8765)
    p.add_argument("--no-browser", action="store_true", help="print the address instead of opening a browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def open_browser(url: str) -> None:
        if args.no_browser:
            return
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(f"{url}/viewer/",)).start()

    return serve(build(args), args, on_start=open_browser)
