"""One self-contained HTML page: inline style, plots embedded as base64 PNG, nothing fetched when it opens."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.figure import Figure

from .report_plots import png

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1500px; margin: 0 auto; padding: 1.2em 2em 4em; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.1em; margin-top: 1.5em; } h4 { margin: 0.4em 0; font-size: 1em; }
.meta, .note { color: #666; } .note { font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.6em 0; background: #fff; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1em; }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 0.6em 0.8em; }
figure { margin: 0.4em 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #666; font-size: 0.88em; }
.critical { color: #b2182b; font-weight: 600; } .warning { color: #c45a00; font-weight: 600; }
.info { color: #2e7d32; } .drifting { color: #b2182b; } .resolved, .ok { color: #2e7d32; }
code { background: #f0f0f0; padding: 0 3px; border-radius: 3px; }
nav a { margin-right: 1em; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


class Page:
    """A report page being built: HTML fragments in order, and the PNG of every plot (for --png)."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.images: list[tuple[str, bytes]] = []   # (file name, PNG)
        self._names: set[str] = set()

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def heading(self, level: int, text: str, anchor: str | None = None) -> None:
        ident = f' id="{esc(anchor)}"' if anchor else ""
        self.add(f"<h{level}{ident}>{esc(text)}</h{level}>")

    def text(self, text: str, cls: str = "") -> None:
        self.add(f'<p class="{cls}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>")

    def figure(self, fig: Figure, name: str, caption: str = "") -> str:
        """The figure as an embedded PNG; returns its HTML (not added: callers place it, e.g. in a grid)."""
        data = png(fig)
        file = self._unique(_file_name(name))
        self.images.append((file, data))
        encoded = base64.b64encode(data).decode("ascii")
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{encoded}">{cap}</figure>'

    def render(self, generated: datetime | None = None) -> str:
        when = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%SZ")
        body = "\n".join(self.parts)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<meta name="generator" content="streamdrift report">'
                f"<title>{esc(self.title)}</title><style>{STYLE}</style></head>\n<body><main>\n"
                f"<h1>{esc(self.title)}</h1>\n<p class=\"meta\">generated {when} by streamdrift report</p>\n"
                f"{body}\n</main></body></html>\n")

    def write(self, path: Path) -> int:
        data = self.render().encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return len(data)

    def write_pngs(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in self.images:
            (folder / name).write_bytes(data)
            written.append(folder / name)
        return written

    def _unique(self, name: str) -> str:
        stem, n, candidate = name.removesuffix(".png"), 2, name
        while candidate in self._names:
            candidate, n = f"{stem}-{n}.png", n + 1
        self._names.add(candidate)
        return candidate


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; cells are escaped text, or raw HTML when given as Raw."""
    right = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="n">{_cell(v)}</td>' if i in right else f"<td>{_cell(v)}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Raw(str):
    """HTML that is already safe (built from escaped parts)."""


def span(text: str, cls: str) -> Raw:
    return Raw(f'<span class="{esc(cls)}">{esc(text)}</span>')


def grid(items: Iterable[str]) -> str:
    return '<div class="grid">' + "".join(f'<div class="card">{item}</div>' for item in items) + "</div>"


def _cell(value: object) -> str:
    return value if isinstance(value, Raw) else esc("" if value is None else value)


def _file_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_") or "plot"
    return cleaned[:120] + ".png"
