r"""The commands the documentation shows, and a shell session that runs them as a reader would.

How a page marks what is run (tests/integration/test_doc_commands.py runs README.md and
docs/*.md with this):

- A fenced block whose info string is ``console`` holds commands and their output. Its first
  line sets the prompt: ``$ `` (or ``# `` for root; a block that starts with neither holds no
  commands). A line starting with the prompt is a command; the lines after it, up to the next
  command or the end of the block, are the output it prints (stdout and stderr, as a terminal
  shows them; no lines means it prints nothing). A command line ending in ``\`` goes on on the
  next line, and a here-document (``<<EOF``) takes the lines up to its delimiter. An output
  line that is exactly ``...`` stands for any number of lines.
- A fenced block whose info string is ``sh``, ``shell`` or ``bash`` holds commands only, one a
  line (``#`` lines are comments); their output is not compared.
- Other blocks (``text``, ``toml``, no info string, ...) hold no commands.
- An HTML comment on the line right before a block's opening fence tunes it:
  ``<!-- docs-test: exit=3 exact background atlas=example -->``
  - ``exit=N[,N...]``: the exit code of each command of the block, in order (default 0);
  - ``exact``: the output must equal the sample line for line, not only in shape;
  - ``background``: the block's one command is a server (``gitopsd emulator``): it is started
    on a free port (``--listen HOST:PORT`` becomes ``HOST:0``), its first lines are compared
    with the sample, the address it prints replaces ``HOST:PORT`` in every later command and
    sample of the page, and it gets SIGTERM (and must exit 0) when the page is done;
  - ``atlas=example``: before the block, a fresh emulator serves
    ``config/emulator-state.example.yaml`` and ``gitopsd.toml`` in the working directory points
    at it and at ``manifests-example/``, as docs/demo-by-hand.md sets it up.

"Shape" is what a sample promises when not ``exact``: the same number of lines, and on each
line the same indentation, the same first word and the same numbers. Wording inside a line may
change; counts, exit codes, line numbers and the line structure may not. Hex ids, digests and
timestamps are masked on both sides first, since they change from run to run.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

PROMPTS = ("$ ", "# ")
SHELL_INFO = frozenset({"sh", "shell", "bash"})
ELISION = "..."
DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[\w-]*)")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>\w+)\1")
LISTEN = re.compile(r"--listen\s+(?P<host>[\w.\-\[\]:]+):(?P<port>\d+)")
URL = re.compile(r"http://(?P<host>[\w.\-\[\]:]+?):(?P<port>\d+)")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
HEX = re.compile(r"\b[0-9a-f]{7,64}\b")
NUMBER = re.compile(r"\d+")
TRACEBACK = "Traceback (most recent call last)"
WAIT_S = 30.0
"""How long a command, or a server's first lines, may take (a loaded 2-core machine)."""


class PageError(Exception):
    """A page's blocks or directives cannot be read as commands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One command a page shows, and what the page says it does."""

    page: str
    line: int
    text: str
    sample: tuple[str, ...] | None
    exit_code: int = 0
    exact: bool = False
    background: bool = False
    atlas: str = ""

    @property
    def key(self) -> str:
        """How a skip list names it: its first line, without a trailing ``# comment``."""
        first = self.text.splitlines()[0]
        return re.sub(r"\s+#\s.*$", "", first).strip()

    @property
    def where(self) -> str:
        """``page:line``."""
        return f"{self.page}:{self.line}"


@dataclass(frozen=True, slots=True)
class _Block:
    info: str
    start: int
    lines: tuple[str, ...]
    directive: dict[str, str]


def _directive(text: str, where: str) -> dict[str, str]:
    match = DIRECTIVE.match(text.strip())
    if match is None:
        return {}
    out: dict[str, str] = {}
    for word in match["body"].split():
        key, _, value = word.partition("=")
        if key not in {"exit", "exact", "background", "atlas"}:
            raise PageError(f"{where}: unknown docs-test key {key!r}")
        out[key] = value
    return out


def _blocks(text: str, page: str) -> Iterator[_Block]:
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            if DIRECTIVE.match(lines[index].strip()) and not (
                index + 1 < len(lines) and FENCE.match(lines[index + 1])
            ):
                raise PageError(f"{page}:{index + 1}: a docs-test comment must precede a fence")
            index += 1
            continue
        fence = opening["fence"]
        before = lines[index - 1] if index else ""
        directive = _directive(before, f"{page}:{index}")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not (
            lines[end].startswith(fence) and not lines[end].rstrip().strip(fence[0])
        ):
            body.append(lines[end])
            end += 1
        yield _Block(opening["info"], index + 2, tuple(body), directive)
        index = end + 1


def _take_command(lines: Sequence[str], index: int, first: str) -> tuple[str, int]:
    """The whole command starting at ``lines[index]`` (continuations, here-document)."""
    text, index = first, index + 1
    while text.endswith("\\") and index < len(lines):
        text, index = f"{text}\n{lines[index]}", index + 1
    heredoc = HEREDOC.search(text.splitlines()[-1])
    if heredoc is not None:
        while index < len(lines):
            text, index = f"{text}\n{lines[index]}", index + 1
            if lines[index - 1] == heredoc["word"]:
                break
    return text, index


def _console(block: _Block) -> Iterator[tuple[int, str, tuple[str, ...] | None]]:
    prompt = next((p for p in PROMPTS if block.lines and block.lines[0].startswith(p)), None)
    if prompt is None:
        return
    index = 0
    while index < len(block.lines):
        start = index
        text, index = _take_command(block.lines, index, block.lines[index][len(prompt) :])
        output: list[str] = []
        while index < len(block.lines) and not block.lines[index].startswith(prompt):
            output.append(block.lines[index])
            index += 1
        yield block.start + start, text, tuple(output)


def _shell(block: _Block) -> Iterator[tuple[int, str, tuple[str, ...] | None]]:
    index = 0
    while index < len(block.lines):
        line = block.lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            index += 1
            continue
        start = index
        text, index = _take_command(block.lines, index, line)
        yield block.start + start, text, None


def commands(path: Path, page: str) -> tuple[Command, ...]:
    """Every command ``path`` shows, in order, named by ``page`` (its path in the repository)."""
    found: list[Command] = []
    for block in _blocks(path.read_text(encoding="utf-8"), page):
        if block.info == "console":
            shown = list(_console(block))
        elif block.info in SHELL_INFO:
            shown = list(_shell(block))
        else:
            shown = []
        where = f"{page}:{block.start - 1}"
        if block.directive and not shown:
            raise PageError(f"{where}: a docs-test comment on a block without commands")
        codes = [int(c) for c in block.directive.get("exit", "").split(",") if c]
        if codes and len(codes) != len(shown):
            raise PageError(f"{where}: exit= names {len(codes)} codes for {len(shown)} commands")
        if "background" in block.directive and len(shown) != 1:
            raise PageError(f"{where}: a background block holds exactly one command")
        for number, (line, text, sample) in enumerate(shown):
            if re.match(r"(cd|export|source|\.)\s", text):
                raise PageError(
                    f"{page}:{line}: {text!r}: each command runs in a shell of its own, so"
                    " one that changes the shell (cd, export, source) cannot carry over"
                )
            found.append(
                Command(
                    page=page,
                    line=line,
                    text=text,
                    sample=sample,
                    exit_code=codes[number] if codes else 0,
                    exact="exact" in block.directive,
                    background="background" in block.directive,
                    atlas=block.directive.get("atlas", ""),
                )
            )
    return tuple(found)


# -- comparing output --------------------------------------------------------------------------


def _mask(line: str) -> str:
    return HEX.sub("<hex>", TIMESTAMP.sub("<time>", line.rstrip()))


def _shape(line: str) -> tuple[int, str, tuple[str, ...]]:
    masked = _mask(line)
    words = masked.split()
    return (
        len(masked) - len(masked.lstrip()),
        words[0] if words else "",
        tuple(NUMBER.findall(masked)),
    )


def _trim(lines: Sequence[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _same(sample: Sequence[str], real: Sequence[str], *, exact: bool) -> bool:
    if exact:
        return [_mask(s) for s in sample] == [_mask(r) for r in real]
    return [_shape(s) for s in sample] == [_shape(r) for r in real]


def mismatch(sample: Sequence[str], real: Sequence[str], *, exact: bool) -> str | None:
    """Why ``real`` output does not fit the ``sample`` a page shows; None when it fits."""
    shown, got = _trim(sample), _trim(real)
    parts: list[list[str]] = [[]]
    for line in shown:
        if line == ELISION:
            parts.append([])
        else:
            parts[-1].append(line)
    fits = False
    if len(parts) == 1:
        fits = len(shown) == len(got) and _same(shown, got, exact=exact)
    elif len(got) >= sum(map(len, parts)):
        head, *middle, tail = parts
        rest = got[len(head) : len(got) - len(tail)]
        fits = _same(head, got[: len(head)], exact=exact) and _same(
            tail, got[len(got) - len(tail) :], exact=exact
        )
        for part in middle:
            spots = [
                i
                for i in range(len(rest) - len(part) + 1)
                if _same(part, rest[i : i + len(part)], exact=exact)
            ]
            fits = fits and bool(spots)
            rest = rest[spots[0] + len(part) :] if spots else rest
    if fits:
        return None
    how = "line for line" if exact else "in shape (indentation, first word, numbers per line)"
    return (
        f"the output differs from the sample {how}.\n--- sample\n"
        + "\n".join(shown)
        + "\n--- real output\n"
        + "\n".join(got)
    )


# -- running -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Server:
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    reader: threading.Thread

    def line(self, what: str) -> str:
        try:
            line = self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"{what}: printed nothing for {WAIT_S:.0f} s") from None
        if line is None:
            code = self.process.wait(timeout=WAIT_S)
            raise AssertionError(f"{what}: exited {code} before printing what the page shows")
        return line.rstrip("\n")


@dataclass(frozen=True, slots=True)
class Result:
    """What one command did."""

    code: int
    lines: tuple[str, ...]


class Session:
    """A reader's terminal: a working directory holding what the pages name, servers on loopback.

    The working directory holds copies of ``manifests-example/``, ``config/`` and
    ``tests/data/docs-example/``, so commands may write beside them; every command runs in a
    ``bash`` of its own with the virtual environment's ``bin`` first on ``PATH`` and no
    ``GITOPSD_*`` variable from outside.
    """

    COPIED = ("manifests-example", "config", "tests/data/docs-example")
    TEMP_DIRS = ("/tmp/gitopsd-by-hand",)  # noqa: S108 - a page's placeholder, replaced below

    def __init__(self, root: Path, repo: Path) -> None:
        self.work = root / "work"
        self.work.mkdir()
        for name in self.COPIED:
            shutil.copytree(repo / name, self.work / name)
        self.subs = [(doc, str(root / Path(doc).name)) for doc in self.TEMP_DIRS]
        self.servers: list[_Server] = []
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GITOPSD_") and k != "CREDENTIALS_DIRECTORY"
        }
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def forward(self, text: str) -> str:
        """A page's text with its placeholders (temporary directories, ports) made real."""
        for doc, real in self.subs:
            text = text.replace(doc, real)
        return text

    def back(self, text: str) -> str:
        """Real output with the real values put back as the page writes them."""
        for doc, real in self.subs:
            text = text.replace(real, doc)
        return text

    def run(self, command: Command) -> Result:
        """Run one command to its end; stdout and stderr together, as a terminal shows them."""
        done = subprocess.run(
            ["bash", "-c", self.forward(command.text)],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=WAIT_S * 4,
            check=False,
        )
        return Result(done.returncode, tuple(self.back(done.stdout).splitlines()))

    def start(self, command: Command) -> Result:
        """Start a server command on a free port; its first lines (as many as the sample)."""
        text = self.forward(command.text)
        listen = LISTEN.search(text)
        if listen is not None:
            text = LISTEN.sub(f"--listen {listen['host']}:0", text, count=1)
        server = self._spawn(text)
        count = max(1, len(command.sample or ()))
        lines = [server.line(command.where) for _ in range(count)]
        address = URL.search(lines[0])
        if listen is not None and address is not None:
            shown, real = (
                f"{listen['host']}:{listen['port']}",
                f"{address['host']}:{address['port']}",
            )
            self.subs.append((shown, real))
        return Result(0, tuple(self.back(line) for line in lines))

    def example_atlas(self) -> None:
        """A fresh emulator of the example state, and ``gitopsd.toml`` pointing at it."""
        server = self._spawn(
            "exec gitopsd emulator --listen 127.0.0.1:0 --state config/emulator-state.example.yaml"
        )
        first = server.line("gitopsd emulator for atlas=example")
        address = URL.search(first)
        assert address is not None, first
        (self.work / "public_key").write_text("emulatorpub", encoding="utf-8")
        (self.work / "private_key").write_text(
            "00000000-0000-4000-8000-emulatorpriv", encoding="utf-8"
        )
        shutil.rmtree(self.work / "state", ignore_errors=True)
        (self.work / "gitopsd.toml").write_text(
            f"""[git]
url = "manifests-example"

[atlas]
base_url = "{address[0]}"
public_key_file = "public_key"
private_key_file = "private_key"

[state]
dir = "state"
""",
            encoding="utf-8",
        )

    def _spawn(self, text: str) -> _Server:
        process = subprocess.Popen(
            ["bash", "-c", text if text.startswith("exec ") else f"exec {text}"],
            cwd=self.work,
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = process.stdout
        assert stdout is not None

        def drain() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        server = _Server(process, lines, reader)
        self.servers.append(server)
        return server

    def close(self) -> list[tuple[int, str]]:
        """SIGTERM every server; each one's exit code and what it printed after its banner."""
        ended: list[tuple[int, str]] = []
        for server in self.servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=WAIT_S)
            server.reader.join(timeout=WAIT_S)
            if server.process.stdout is not None:
                server.process.stdout.close()
            rest: list[str] = []
            while not server.lines.empty():
                line = server.lines.get_nowait()
                if line is not None:
                    rest.append(line)
            ended.append((code, "".join(rest)))
        self.servers.clear()
        return ended
