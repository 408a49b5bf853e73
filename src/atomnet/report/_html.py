"""A document as a list of plain elements, rendered to Markdown or to one self-contained HTML page
(figures embedded as base64 PNG data URIs, inline CSS, no scripts, no external resources)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class H:
    level: int
    text: str


@dataclass(frozen=True)
class P:
    text: str


@dataclass(frozen=True)
class UL:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""  # one of l/r per column; default: first left, the rest right

    def __post_init__(self) -> None:
        n = len(self.headers)
        if self.align and len(self.align) != n:
            raise ValueError(f"Table: {len(self.align)} alignments for {n} columns")
        bad = [i for i, r in enumerate(self.rows) if len(r) != n]
        if bad:
            raise ValueError(f"Table: row {bad[0]} has {len(self.rows[bad[0]])} cells for {n} columns")


@dataclass(frozen=True)
class Fig:
    file: str  # relative to the report folder
    caption: str


Element = H | P | UL | Table | Fig


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Sequence[Element]) -> str:
    out: list[str] = []
    for e in doc:
        if isinstance(e, H):
            out += ["#" * e.level + " " + e.text, ""]
        elif isinstance(e, P):
            out += [e.text, ""]
        elif isinstance(e, UL):
            out += [f"- {it}" for it in e.items] + [""]
        elif isinstance(e, Table):
            al = e.align or "l" + "r" * (len(e.headers) - 1)
            out.append("| " + " | ".join(_md_cell(h) for h in e.headers) + " |")
            out.append("|" + "|".join("---:" if a == "r" else "---" for a in al) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in e.rows]
            out.append("")
        elif isinstance(e, Fig):
            out += [f"![{e.caption}]({e.file})", "", f"*{e.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


_INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"), (re.compile(r"`(.+?)`"), r"<code>\1</code>")]


def _inline(s: str) -> str:
    t = html.escape(s, quote=False)
    for rx, rep in _INLINE:
        t = rx.sub(rep, t)
    return t


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{border-bottom:1px solid #eee;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}td.r{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#555}
code{background:#f5f5f5;padding:0 3px}
"""


def to_html(doc: Sequence[Element], title: str, folder: str | Path) -> str:
    """One self-contained page: every :class:`Fig` file (under ``folder``) embedded as a data URI."""
    root = Path(folder)
    body: list[str] = []
    for e in doc:
        if isinstance(e, H):
            body.append(f"<h{e.level}>{_inline(e.text)}</h{e.level}>")
        elif isinstance(e, P):
            body.append(f"<p>{_inline(e.text)}</p>")
        elif isinstance(e, UL):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in e.items) + "</ul>")
        elif isinstance(e, Table):
            al = e.align or "l" + "r" * (len(e.headers) - 1)
            rows = ["<tr>" + "".join(f"<th>{_inline(h)}</th>" for h in e.headers) + "</tr>"]
            for r in e.rows:
                cells = (f'<td class="{a}">{_inline(c)}</td>' for a, c in zip(al, r, strict=True))
                rows.append("<tr>" + "".join(cells) + "</tr>")
            body.append("<table>" + "".join(rows) + "</table>")
        elif isinstance(e, Fig):
            data = base64.b64encode((root / e.file).read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(e.caption)}" '
                        f'data-file="{html.escape(e.file)}"><figcaption>{_inline(e.caption)}</figcaption></figure>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f"<body>\n" + "\n".join(body) + "\n</body></html>\n")
