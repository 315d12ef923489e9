"""A tiny HTML report builder: one self-contained ``.html`` file that opens offline.

Images are embedded as base64 ``data:`` URIs and the CSS is inline, so a report can be mailed,
archived or opened from a run folder with no other files and no network. All text is
HTML-escaped; there is no way to inject raw markup.

Example::

    rep = Report("conv-denoising on MNIST")
    rep.heading("Test metrics").table({"mse": 0.0091, "psnr": 20.4, "ssim": 0.87})
    rep.image(comparison_grid([x, x_noisy, x_hat], ["clean", "noisy", "denoised"]))
    rep.write("runs/exp1/report.html")
"""

from __future__ import annotations

import base64
import html
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_bytes
from .grids import encode_png

__all__ = ["Report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  max-width: 1000px; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; } h3, h4 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .92rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #e3e3e3; text-align: left; }
th { background: #f0f0f0; } tbody tr:nth-child(even) { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
img { max-width: 100%; height: auto; }
img.pixelated { image-rendering: pixelated; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; border-radius: 4px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88rem; }
ul { padding-left: 1.4rem; }
""".strip()

# Image signatures for files passed by path; anything else is refused rather than embedded
# with a wrong MIME type that browsers would not display.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


def _inline(text: str) -> str:
    """Escape ``text``, then turn ``**bold**`` and ```code``` spans into tags."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


def _cell(value: Any, floatfmt: str) -> tuple[str, bool]:
    """A table cell as (escaped text, is_numeric)."""
    if value is None:
        return "", False
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        value = value.item()
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, numbers.Integral):
        return str(int(value)), True
    if isinstance(value, numbers.Real):
        return html.escape(format(float(value), floatfmt)), True
    return html.escape(str(value)), False


class Report:
    """An HTML report built up from headings, text, tables, images and code blocks.

    Every method returns ``self`` so calls can be chained.

    Args:
        title: Page title, also shown as the top heading.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> Report:
        """Add a section heading.

        Args:
            text: Heading text.
            level: 2 (section) to 4; level 1 is the report title.
        """
        if level not in (2, 3, 4):
            raise ValueError(f"expected heading level 2, 3 or 4, got {level}")
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def text(self, text: str) -> Report:
        """Add plain text: blank lines separate paragraphs, ``- `` lines make a bullet list.

        Text is HTML-escaped; ``**bold**`` and ```code``` spans are the only markup recognised.

        Args:
            text: The text.
        """
        for block in re.split(r"\n\s*\n", text.strip()):
            lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
            if lines and all(ln.startswith("- ") for ln in lines):
                items = "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines)
                self._parts.append(f"<ul>{items}</ul>")
            elif lines:
                self._parts.append(f"<p>{_inline(' '.join(lines))}</p>")
        return self

    def table(
        self,
        rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        caption: str | None = None,
        floatfmt: str = ".4g",
    ) -> Report:
        """Add a table.

        Args:
            rows: A list of dicts (columns are the union of their keys, in first-seen order;
                missing cells stay empty), or one dict shown as a two-column key/value table.
            caption: Caption above the table.
            floatfmt: ``format()`` spec for floats; integers are printed exactly.
        """
        if isinstance(rows, Mapping):
            rows = [{"name": k, "value": v} for k, v in rows.items()]
        if not rows:
            raise ValueError("expected at least one table row, got none")
        columns: list[str] = []
        for r in rows:
            if not isinstance(r, Mapping):
                raise ValueError(f"expected table rows as dicts, got {type(r).__name__}")
            columns.extend(k for k in r if k not in columns)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = []
        for r in rows:
            cells = []
            for c in columns:
                text, numeric = _cell(r.get(c), floatfmt)
                cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(
            f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
        return self

    def image(
        self,
        image: str | os.PathLike[str] | Any,
        caption: str | None = None,
        width: int | None = None,
        pixelated: bool = True,
    ) -> Report:
        """Embed an image as a base64 data URI.

        Args:
            image: Path to a PNG/JPEG/GIF file, or an image array ((H, W) or (H, W, C), uint8 or
                float in [0, 1]) which is encoded as PNG.
            caption: Caption under the image, also used as alt text.
            width: Display width in CSS px; default the image's own width (capped by the page).
            pixelated: Scale with hard pixel edges (right for image grids; pass False for
                plots, which look better smoothed when the browser shrinks them).
        """
        if isinstance(image, (str, os.PathLike)):
            data = Path(image).read_bytes()
            mime = next((m for sig, m in _SIGNATURES if data.startswith(sig)), None)
            if mime is None:
                raise ValueError(f"expected a PNG, JPEG or GIF file, got {str(image)!r}")
        else:
            data, mime = encode_png(image), "image/png"
        if width is not None and width <= 0:
            raise ValueError(f"expected width > 0 px, got {width}")
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        attrs = ' class="pixelated"' if pixelated else ""
        if width is not None:
            attrs += f' style="width:{int(width)}px"'
        alt = html.escape(caption or "", quote=True)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f'<figure><img src="{uri}" alt="{alt}"{attrs}>{cap}</figure>')
        return self

    def code(self, text: str) -> Report:
        """Add a preformatted block (a config, a model summary, a command line).

        Args:
            text: The text, shown verbatim.
        """
        self._parts.append(f"<pre><code>{html.escape(text)}</code></pre>")
        return self

    def to_html(self) -> str:
        """The complete HTML document as a string."""
        title = html.escape(self.title)
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
            f"<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the report atomically (temp file, then ``os.replace``).

        Args:
            path: Destination ``.html`` file; missing parent folders are created.

        Returns:
            The destination path.
        """
        atomic_write_bytes(path, self.to_html().encode("utf-8"))
        return Path(path)
