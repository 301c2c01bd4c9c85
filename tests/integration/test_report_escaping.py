"""Markdown and HTML in file names, manifests and Atlas's answers show as text in REPORT.md.

Each test writes real manifest files whose names or contents carry Markdown and HTML, runs
the real ``gitopsd apply`` against the emulator, and renders the REPORT.md it wrote as a pull
request would show it (CommonMark with GitHub's tables and strikethrough, by markdown-it-py).
What a reviewer sees must be exactly what was written: no link, image, HTML element,
emphasis, table column or line that the text itself made.
"""

from __future__ import annotations

from html.parser import HTMLParser

from markdown_it import MarkdownIt
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import PROJECT_NAME, World

EVIL_FILE = "](https:%2F%2Fevil.example) [x.yaml"
HOSTILE = (
    "<b>x</b> | `y` *z* _w_ ![i](https://evil.example/i.png) [a](https://evil.example) ~s~ $m$"
)
"""Every inline construct of CommonMark and GitHub's Markdown that text could smuggle in."""
OURS = frozenset({"h1", "h2", "h3", "p", "a", "strong", "code", "br", "sub", "ul", "li", "pre"})
TABLES = frozenset({"table", "thead", "tbody", "tr", "th", "td"})


class Page(HTMLParser):
    """The rendered report: its elements, link targets, and the text of each block and row."""

    BLOCKS = frozenset({"p", "h3", "li", "td", "th"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.rows: list[list[str]] = []
        self.blocks: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: D102
        self.tags.add(tag)
        self.hrefs += [v or "" for k, v in attrs if k in {"href", "src"}]
        if tag == "tr":
            self.rows.append([])
        if tag in self.BLOCKS:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:  # noqa: D102
        if tag in self.BLOCKS and self._open and self._open[-1][0] == tag:
            _, parts = self._open.pop()
            self.blocks.append((tag, "".join(parts)))
            if tag in {"td", "th"}:
                self.rows[-1].append("".join(parts))

    def handle_data(self, data: str) -> None:  # noqa: D102
        for _, parts in self._open:
            parts.append(data)

    def row(self, first: str) -> list[str]:
        """The table row whose first cell starts with ``first``."""
        return next(r for r in self.rows if r and r[0].startswith(first))

    def texts(self, tag: str) -> list[str]:
        """The text of every ``tag`` block, in order."""
        return [text for t, text in self.blocks if t == tag]


def rendered(world: World) -> Page:
    """``gitopsd apply`` on the world, and its REPORT.md rendered as a pull request shows it."""
    if not (world.repo / "backups.yaml").exists():
        world.write(
            "backups.yaml",
            docs(project(atlas_name=PROJECT_NAME), policy(items=ITEMS), schedule(), deployment()),
        )
    world.config()
    world.run("apply")
    text = (world.root / "state" / "report" / "REPORT.md").read_text(encoding="utf-8")
    page = Page(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text))
    assert page.tags <= OURS | TABLES, page.tags - OURS - TABLES
    assert all(h.startswith("../") for h in page.hrefs), page.hrefs
    return page


def test_a_file_name_with_markdown_adds_no_link_to_the_report(world):
    """A broken file named like a link is shown by its name, linked only to itself."""
    world.write(EVIL_FILE, "apiVersion: atlas.mongodb.com/v1\nkind: [\n")
    page = rendered(world)
    where, severity, code, _message = page.row(EVIL_FILE)
    assert where.startswith(f"{EVIL_FILE}:")
    assert (severity, code) == ("error", "yaml-syntax")
    link = "../%5D%28https%3A%252F%252Fevil.example%29%20%5Bx.yaml#L"
    line = where.rsplit(":", 2)[1]
    assert [h for h in page.hrefs if not h.startswith("../backups.yaml")] == [link + line]


def test_markdown_and_html_in_a_manifest_show_as_text_in_one_table_row(world):
    """A field named with pipes, HTML, links and a newline stays one row of four cells."""
    field = HOSTILE + "\nnext"
    escaped = field.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    broken = policy(name="odd", items=ITEMS).replace("spec:\n", f'spec:\n  "{escaped}": 1\n')
    world.write("odd.yaml", docs(broken))
    page = rendered(world)
    row = page.row("odd.yaml:")
    assert len(row) == 4
    assert row[3].startswith(f"unknown field spec.{HOSTILE}next")


def test_a_project_named_with_markdown_shows_as_text_in_headings_and_atlas_errors(world):
    """A project Atlas does not know, named with Markdown: heading and Atlas's detail as written."""
    quoted = '"' + HOSTILE.replace("\\", "\\\\").replace('"', '\\"') + '"'
    world.write(
        "backups.yaml",
        docs(
            project(name="odd", atlas_name=quoted),
            policy(items=ITEMS),
            schedule(),
            deployment(project_name="odd"),
        ),
    )
    page = rendered(world)
    assert page.texts("h3") == [f"{HOSTILE}/orders-db"]
    (error,) = [p for p in page.texts("p") if p.startswith("Error:")]
    assert f"no group with name {HOSTILE} exists" in error
