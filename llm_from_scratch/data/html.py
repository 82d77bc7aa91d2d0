"""HTML to text: the visible prose of a page, in paragraphs, without its chrome.

Web corpora start here (trafilatura for FineWeb, resiliparse for DCLM), and an
extractor's mistakes are copied into every later stage: a paragraph split at
each line break of the HTML source looks like many short "lines" to the
quality rules, a navigation bar repeated on every page looks like content to
deduplication. The rules, in the order a page meets them:

* **bytes to characters**: a byte-order mark, else the page's own ``<meta
  charset>`` (or ``http-equiv`` content type) in its first 2 KB, else UTF-8 if
  it decodes, else ``charset-normalizer``'s best guess, windows-1252 first
  among its candidates (the browsers' fallback) (``decode_html``);
* **what is not text**: scripts, styles, ``<head>``, forms, SVG, and page
  chrome: ``<nav>``, ``<footer>``, ``<aside>`` and any element whose ``class``
  or ``id`` names navigation, a menu, breadcrumbs, a banner, a footer, a
  sidebar or a cookie notice;
* **whitespace**: runs of spaces, tabs and newlines inside text are one space
  (HTML renders them so); a block element (paragraph, heading, list, table
  row, ...) starts a new paragraph, separated by a blank line; ``<br>`` is a
  line break;
* **structure kept as text**: list items start with ``- `` (``1. ``, ``2. ``
  in ordered lists), table cells are separated by `` | ``, and ``<pre>`` is
  kept verbatim, its newlines and indentation included.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

SKIP = frozenset({
    "script", "style", "noscript", "template", "head", "svg", "math", "nav", "footer",
    "aside", "form", "button", "select", "textarea", "iframe", "object", "canvas",
})
VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "param", "source", "track", "wbr",
})
BLOCK = frozenset({
    "address", "article", "blockquote", "caption", "dd", "details", "dialog", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "thead", "tfoot", "tr", "ul", "title",
})
# class/id words that mark page chrome (matched as whole words of the attribute)
CHROME = re.compile(
    r"(?:^|[\s_-])(?:nav(?:bar|igation|header|footer|links?|menu)?|docnav|menu"
    r"|breadcrumbs?|banner|footer"
    r"|sidebar|cookies?|skip-link|share|social)(?:$|[\s_-])", re.IGNORECASE)
SPACE = re.compile(r"\s+")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
PARA, LINE = "\x00P", "\x00L"  # break markers; the stronger one wins
CELL = "\x00C"  # a table cell starts


def decode_html(raw: bytes) -> tuple[str, str]:
    """The page's text and the encoding used to decode it (see the module doc)."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(name), name
    declared = META_CHARSET.search(raw[:2048])
    if declared:
        name = declared.group(1).decode("ascii", "replace").lower()
        try:
            return raw.decode(name), name
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: fall through to the detector
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(raw))
        if not matches:
            return raw.decode("utf-8", errors="replace"), "utf-8 (replaced)"
        # Single-byte Latin code pages look alike to a detector; where
        # windows-1252 is among its candidates, take it, as browsers do for an
        # undeclared legacy page (the WHATWG fallback).
        if any(m.encoding == "cp1252" for m in matches):
            return raw.decode("cp1252"), "cp1252"
        return str(matches[0]), matches[0].encoding


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open elements, and "skip me"
        self.skipping = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # per open list: [counter] or [] if unordered
        self.marker = ""  # a list item's marker, written before its first text
        self.items = 0  # open <li> elements: blocks inside an item break lines only

    def _kind(self, tag: str) -> str:
        """A block's break: a paragraph, but only a line for an item, a table
        row, a definition, or any block inside a list item."""
        return LINE if self.items or tag in ("li", "dd", "dt", "tr") else PARA

    def _break(self, kind: str) -> None:
        if not self.skipping:
            self.out.append(kind)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            self.handle_startendtag(tag, attrs)
            return
        names = " ".join(v or "" for k, v in attrs if k in ("class", "id", "role"))
        skip = tag in SKIP or bool(CHROME.search(names))
        self.stack.append((tag, skip))
        self.skipping += skip
        if tag in BLOCK:
            self._break(self._kind(tag))
        if tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([0] if tag == "ol" else [])
        elif tag == "li":
            self.items += 1
            self.marker = "" if self.skipping else "- "
            if self.lists and self.lists[-1] and not self.skipping:
                self.lists[-1][0] += 1
                self.marker = f"{self.lists[-1][0]}. "
        elif tag in ("td", "th") and not self.skipping:
            self.out.append(CELL)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break(LINE)
        elif tag == "hr":
            self._break(PARA)

    def handle_endtag(self, tag: str) -> None:
        if not any(t == tag for t, _ in self.stack):
            return  # a stray end tag
        while self.stack:  # close everything left open inside it, as browsers do
            open_tag, skip = self.stack.pop()
            self.skipping -= skip
            if open_tag == "pre":
                self.pre -= 1
            elif open_tag == "li":
                self.items -= 1
                self.marker = ""  # an item without text leaves no marker behind
            elif open_tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            if open_tag in BLOCK:
                self._break(self._kind(open_tag))
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre and self.out and self.out[-1] == PARA and data.startswith("\n"):
            data = data[1:]  # HTML drops the newline right after <pre>
        if self.marker and data.strip():
            self.out.append(self.marker)
            self.marker = ""
            data = data.lstrip()
        self.out.append(data if self.pre else SPACE.sub(" ", data))


def _assemble(parts: list[str]) -> str:
    """Join text and break markers: paragraphs separated by one blank line, lines
    trimmed (except preformatted ones), table cells joined by `` | ``."""
    paragraphs: list[list[str]] = [[]]
    current: list[str] = []
    pending = None

    def flush_line() -> None:
        cells = "".join(current).split(CELL)
        line = " | ".join(c.strip() for c in cells if c.strip()) if len(cells) > 1 \
            else cells[0]
        if "\n" not in line:  # not preformatted: trim what the markup left
            line = line.strip()
        current.clear()
        if line.strip():
            paragraphs[-1].append(line.rstrip("\n"))

    for part in parts:
        if part in (PARA, LINE):
            pending = PARA if PARA in (pending, part) else LINE
            continue
        if pending is not None:
            flush_line()
            if pending == PARA and paragraphs[-1]:
                paragraphs.append([])
            pending = None
        current.append(part)
    flush_line()
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page: paragraphs separated by a blank line."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    return _assemble(parser.out)
