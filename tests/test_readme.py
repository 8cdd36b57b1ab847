"""The README runs as a newcomer types it, top to bottom (issue 9: "every README snippet still runs";
issue 10, item 6: "the README's commands must work as a newcomer types them, in order").

Every fenced block of README.md is taken in order:

* ```bash blocks: each command line is run by bash, as typed (comments dropped, pipes kept), in a
  sandbox that stands for a fresh clone: a copy of the repository's tracked files as the working
  directory, a fresh empty $HOME (no XDG_* variables, no $NNSCRATCH_DATA), `nnscratch` and `python` from
  this interpreter's environment with this checkout's src/ first on PYTHONPATH. MNIST is in the user
  cache as if an earlier `nnscratch train` had downloaded it (links to the test copy, conftest's
  mnist_path), Fashion-MNIST comes from Debian's copy, and proxies point at a closed port so that
  nothing can download. A command must exit 0 (or the code a marker states) and never print a
  traceback. `pip install` lines are not run (this environment has the extras) but every extra they
  name must exist in pyproject.toml.
* ```python blocks: executed in this process, in the sandbox, one namespace per README section (a
  section's later blocks use the names of its earlier ones), compiled with README.md's own line
  numbers so that a traceback points at the README line.
* after the walk, everything the README's commands and snippets created in the clone must be
  ignored by the repository's .gitignore.

Files a reader is assumed to have are made here: `my_digit.jpg`, `my_digit.png` and `photos/` drawn with
Pillow, `my_digits/<digit>/` in the made-up handwriting of tests/handwriting.py. Commands run with one
BLAS thread (see `_make_sandbox`).

Markers. An HTML comment right before a block (invisible on GitHub) says what the test does
differently, and always why; several may be stacked. The reason, in parentheses at the end, is
required:

    <!-- readme-test: skip (why) -->                       the block is not run
    <!-- readme-test: skip `COMMAND` (why) -->             that command of the block is not run
    <!-- readme-test: budget VERB ARGS (why) -->           ARGS appended to each `nnscratch VERB`
                                                           of the block (not to a `train --resume`)
    <!-- readme-test: exit N `COMMAND` (why) -->           that command must exit with N
    <!-- readme-test: sub `OLD` `NEW` (why) -->            text replaced in the block before it runs
    <!-- readme-test: edit FILE KEY=VALUE... (why) -->     TOML keys (table.key) set in the sandbox's
                                                           copy of FILE before the block runs
    <!-- readme-test: serve (why) -->                      each `nnscratch serve` of the block runs in
                                                           the background on a free port (127.0.0.1:8000
                                                           in later commands of the section means it)
                                                           until /healthz answers, and is stopped
                                                           with Ctrl-C (exit 0) at the section's end

A marker that is malformed, has no reason, stands away from a block or matches nothing in its
block fails `test_readme_markers_are_well_formed`; each skip is reported as a skipped test with
its reason, so nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

FENCE = re.compile(r"^```([\w-]*)\s*$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
REASON = re.compile(r"\(([^()]*)\)\s*$")
QUOTED = re.compile(r"`([^`]*)`")
OPERATORS = set("();<>|&")
ACTIONS = ("skip", "budget", "exit", "sub", "edit", "serve")


class MarkerError(ValueError):
    """A readme-test marker that the test cannot honour."""


@dataclass(frozen=True)
class Directive:
    action: str
    words: tuple[str, ...]  # the arguments outside backticks
    quoted: tuple[str, ...]  # the `backticked` arguments
    reason: str
    line: int


@dataclass
class Block:
    lang: str
    first_line: int  # README line of the block's first line of code
    lines: list[str]
    section: str
    directives: list[Directive] = field(default_factory=list)

    @property
    def code(self) -> str:
        return "\n".join(self.lines)

    def marked(self, action: str) -> list[Directive]:
        return [d for d in self.directives if d.action == action]

    @property
    def skip_reason(self) -> str | None:
        whole = [d for d in self.marked("skip") if not d.quoted]
        return whole[0].reason if whole else None


@dataclass(frozen=True)
class Command:
    tokens: tuple[str, ...]  # shell words and operators, comments dropped
    line: int

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def matches(self, quoted: str) -> bool:
        return " ".join(_shell_tokens(quoted)) in self.text


def parse_directive(body: str, line: int) -> Directive:
    """One marker's text (what stands between `readme-test:` and `-->`)."""
    where = f"README.md:{line}"
    reason = REASON.search(body)
    if reason is None or not reason.group(1).strip():
        raise MarkerError(
            f"{where}: a readme-test marker needs its reason in parentheses at the end: {body!r}"
        )
    head = body[: reason.start()]
    quoted = tuple(QUOTED.findall(head))
    words = QUOTED.sub(" ", head).split()
    if not words or words[0] not in ACTIONS:
        raise MarkerError(f"{where}: unknown readme-test action in {body!r} (known: {', '.join(ACTIONS)})")
    action, words = words[0], words[1:]
    valid = {
        "skip": not words and len(quoted) <= 1,
        "budget": len(words) >= 2 and not words[0].startswith("-") and not quoted,
        "exit": len(words) == 1 and words[0].isdigit() and len(quoted) == 1,
        "sub": not words and len(quoted) == 2,
        "edit": len(words) >= 2 and not quoted and all("=" in w for w in words[1:]),
        "serve": not words and not quoted,
    }[action]
    if not valid:
        raise MarkerError(
            f"{where}: malformed readme-test {action} marker: {body!r} (see tests/test_readme.py)"
        )
    return Directive(action, tuple(words), quoted, reason.group(1).strip(), line)


def parse_readme(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text with their section and the markers just before them."""
    blocks: list[Block] = []
    section, pending, current = "", [], None
    for number, line in enumerate(text.splitlines(), 1):
        if current is not None:
            if line.strip() == "```":
                blocks.append(current)
                current = None
            else:
                current.lines.append(line)
            continue
        fence, marker = FENCE.match(line), MARKER.match(line)
        if fence:
            current = Block(fence.group(1), number + 1, [], section, pending)
            pending = []
        elif marker:
            pending.append(parse_directive(marker.group(1), number))
        elif "readme-test" in line:
            raise MarkerError(
                f"README.md:{number}: a readme-test marker is one line '<!-- readme-test: ... -->'"
            )
        elif line.strip() and pending:
            raise MarkerError(
                f"README.md:{pending[0].line}: a readme-test marker must stand right before a block"
            )
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    if current is not None or pending:
        raise MarkerError("README.md: an unclosed code block or a marker at the end")
    return blocks


def _shell_tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(token: str) -> bool:
    return bool(token) and set(token) <= OPERATORS


def commands(block: Block) -> list[Command]:
    """The block's command lines (continuations joined), each split at `&&` into separate commands."""
    found: list[Command] = []
    pending, start = "", 0
    for offset, raw in enumerate(block.lines):
        if not pending:
            start = block.first_line + offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        tokens, pending = _shell_tokens(pending + raw), ""
        while tokens:
            cut = tokens.index("&&") if "&&" in tokens else len(tokens)
            if tokens[:cut]:
                found.append(Command(tuple(tokens[:cut]), start))
            tokens = tokens[cut + 1 :]
    return found


def nnscratch_verb(command: Command) -> str | None:
    """`train` for `nnscratch train ...` or `python -m nnscratch train ...`, else None."""
    words = list(command.tokens)
    if words[:3] == ["python", "-m", "nnscratch"]:
        words = words[2:]
    return words[1] if words[:1] == ["nnscratch"] and len(words) > 1 else None


def pip_extras(text: str) -> list[tuple[int, str]]:
    """(line, extra) for every extra a `pip install` anywhere in the text names."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for install in re.findall(r"pip install ([^`#\n]*)", line):
            for group in re.findall(r"\[([^\]]+)\]", install):
                found += [(number, extra.strip()) for extra in group.split(",")]
    return found


def _stale(block: Block) -> list[str]:
    """The block's markers that match nothing in it."""
    cmds = commands(block) if block.lang == "bash" else []
    verbs = {nnscratch_verb(c) for c in cmds}
    problems = []
    for d in block.directives:
        if d.action in ("skip", "exit") and d.quoted and not any(c.matches(d.quoted[0]) for c in cmds):
            problems.append(f"README.md:{d.line}: {d.action} `{d.quoted[0]}` matches no command of its block")
        elif d.action == "budget" and d.words[0] not in verbs:
            problems.append(
                f"README.md:{d.line}: budget {d.words[0]}: no `nnscratch {d.words[0]}` in its block"
            )
        elif d.action == "sub" and d.quoted[0] not in block.code:
            problems.append(f"README.md:{d.line}: sub `{d.quoted[0]}` does not occur in its block")
        elif d.action == "edit" and not (REPO / d.words[0]).is_file():
            problems.append(f"README.md:{d.line}: edit {d.words[0]}: no such file in the repository")
        elif d.action == "serve" and "serve" not in verbs:
            problems.append(f"README.md:{d.line}: serve marker on a block without `nnscratch serve`")
        elif d.action in ("budget", "exit", "edit", "serve") and block.lang != "bash":
            problems.append(f"README.md:{d.line}: {d.action} applies to bash blocks only")
    return problems


def _readme_blocks() -> list[Block]:
    try:
        return parse_readme(README.read_text(encoding="utf-8"))
    except MarkerError:
        return []  # test_readme_markers_are_well_formed says why


# ---------------------------------------------------------------------------- the markers themselves


def test_marker_parser_demands_a_reason_and_a_known_action():
    ok = parse_directive("budget train --epochs 1 (ten epochs take minutes)", 7)
    assert (ok.action, ok.words, ok.reason, ok.line) == (
        "budget",
        ("train", "--epochs", "1"),
        "ten epochs take minutes",
        7,
    )
    sub = parse_directive("sub `f(x)` `f(x, epochs=1)` (budget)", 3)
    assert sub.quoted == ("f(x)", "f(x, epochs=1)") and sub.reason == "budget"
    for bad in [
        "skip",
        "skip ()",
        "budget --epochs 1 (no verb)",
        "exit `nnscratch x` (no code)",
        "run (what?)",
    ]:
        with pytest.raises(MarkerError):
            parse_directive(bad, 1)
    text = "# A\n<!-- readme-test: skip (why) -->\n\n```bash\nnnscratch x\n```\n"
    (block,) = parse_readme(text)
    assert (block.section, block.first_line, block.skip_reason) == ("A", 5, "why")
    with pytest.raises(MarkerError, match="right before a block"):
        parse_readme("<!-- readme-test: skip (why) -->\ntext\n```bash\nnnscratch x\n```\n")
    with pytest.raises(MarkerError, match="reason"):
        parse_readme("<!-- readme-test: skip -->\n```bash\nnnscratch x\n```\n")


def test_commands_keep_pipes_and_split_at_and_and():
    block = Block(
        "bash", 10, ['pip install ".[cli]" && nnscratch train   # comment', "", "a | b --x 'y z'"], ""
    )
    got = [(c.tokens, c.line) for c in commands(block)]
    assert got == [
        (("pip", "install", ".[cli]"), 10),
        (("nnscratch", "train"), 10),
        (("a", "|", "b", "--x", "y z"), 12),
    ]
    assert nnscratch_verb(commands(block)[1]) == "train"
    assert pip_extras('x `pip install -e ".[test,web]"` and pip install "nnscratch[sklearn]"') == [
        (1, "test"),
        (1, "web"),
        (1, "sklearn"),
    ]


def test_readme_markers_are_well_formed():
    blocks = parse_readme(README.read_text(encoding="utf-8"))  # raises MarkerError with the line
    assert [b for b in blocks if b.lang in ("bash", "python")], "README.md has no runnable blocks"
    problems = [p for b in blocks for p in _stale(b)]
    assert not problems, "\n".join(problems)


def test_readme_pip_installs_name_existing_extras():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = pip_extras(README.read_text(encoding="utf-8"))
    assert named, "the README installs no extras?"
    unknown = [f"README.md:{line}: {extra}" for line, extra in named if extra not in extras]
    assert not unknown, f"extras missing from pyproject.toml: {unknown}"


def test_readme_sweep_files_are_the_examples():
    """A ```toml block of the README is one of examples/*.toml, key for key."""
    examples = [tomllib.loads(p.read_text()) for p in sorted((REPO / "examples").glob("*.toml"))]
    shown = [b for b in _readme_blocks() if b.lang == "toml"]
    for block in shown:
        assert tomllib.loads(block.code) in examples, f"README.md:{block.first_line}: not in examples/"


_SKIPS = [
    pytest.param(f"README.md:{d.line}: {d.reason}", id=f"README.md:{d.line}")
    for b in _readme_blocks()
    for d in b.marked("skip")
    if b.lang in ("bash", "python")
]


@pytest.mark.parametrize("reason", _SKIPS or [pytest.param("", marks=pytest.mark.skip("no skip markers"))])
def test_readme_skip_markers_are_reported(reason):
    assert reason.split(": ", 1)[1].strip()
    pytest.skip(f"not run by test_the_readme_runs_top_to_bottom: {reason}")


# ---------------------------------------------------------------------------- the sandbox


def _draw_digit(path: Path, strokes: list[list[tuple[int, int]]], size: int = 240) -> None:
    """Dark ink on light paper, like a photo or a scan of a drawing."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (236, 232, 224))
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=(30, 30, 40), width=size // 14, joint="curve")
    image.save(path)


SEVEN = [[(60, 50), (185, 50), (105, 205)]]
ONE = [[(110, 55), (135, 40), (135, 200)]]


@dataclass
class Sandbox:
    clone: Path
    home: Path
    env: dict[str, str]
    prepared: set[str]
    original: set[str]
    log: Path | None = None  # the transcript, written as the walk goes
    servers: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0

    def note(self, *lines: str) -> None:
        if self.log is not None:
            with self.log.open("a") as f:
                f.write("".join(f"{line}\n" for line in lines))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_sandbox(root: Path, mnist: Path) -> Sandbox:
    clone, home = root / "clone", root / "home"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    files = [f for f in tracked.stdout.split("\0") if f and (REPO / f).is_file()]
    for name in files:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    # ../shared/data/mnist from the clone, as from a checkout next to the project's shared data
    (root / "shared" / "data").mkdir(parents=True)
    (root / "shared" / "data" / "mnist").symlink_to(mnist)
    cache = home / ".cache" / "nnscratch" / "mnist"  # as if `nnscratch train` had downloaded it
    cache.mkdir(parents=True)
    for gz in mnist.glob("*-ubyte.gz"):
        (cache / gz.name).symlink_to(gz)
    _draw_digit(clone / "my_digit.jpg", SEVEN)
    _draw_digit(clone / "my_digit.png", SEVEN)
    (clone / "photos").mkdir()
    _draw_digit(clone / "photos" / "seven.jpg", SEVEN)
    _draw_digit(clone / "photos" / "one.png", ONE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "NNSCRATCH_", "MPL"))}
    dead = "http://127.0.0.1:9"  # nothing listens there: any download fails at once
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])),
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PIP_NO_INDEX="1",
        # one BLAS thread: on the shared 2-core machine two-thread OpenBLAS made an epoch of batch 128
        # 10-17x slower (15 s against 0.9 s, measured side by side); correctness is what is tested here
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    prepared = {"my_digit.jpg", "my_digit.png", "photos/seven.jpg", "photos/one.png"}
    try:  # a reader's own handwriting, DIR/<digit>/*.png, for `nnscratch finetune`
        from handwriting import write_style_dir
    except ImportError:
        pass
    else:
        write_style_dir(clone / "my_digits", n_per_class=12, seed=7)
        prepared |= {p.relative_to(clone).as_posix() for p in (clone / "my_digits").rglob("*.*")}
    return Sandbox(clone, home, env, prepared, set(files))


def _edit_toml(path: Path, assignments: tuple[str, ...]) -> None:
    """Set table.key = value in a simple TOML file, line by line (comments elsewhere kept)."""
    lines = path.read_text().splitlines()
    for assignment in assignments:
        key, value = assignment.split("=", 1)
        table, _, name = key.rpartition(".")
        tomllib.loads(f"v = {value}")  # a valid TOML value
        current = ""
        for i, line in enumerate(lines):
            stripped = line.split("#")[0].strip()
            if stripped.startswith("["):
                current = stripped.strip("[]").strip()
            elif current == table and re.match(rf"{re.escape(name)}\s*=", stripped):
                lines[i] = f"{name} = {value}"
                break
        else:
            raise AssertionError(f"{path.name}: no key {key}")
    path.write_text("\n".join(lines) + "\n")


def _shell_text(tokens: list[str]) -> str:
    return " ".join(t if _is_operator(t) else shlex.quote(t) for t in tokens)


def _with_budget(command: Command, block: Block) -> list[str]:
    tokens = list(command.tokens)
    verb = nnscratch_verb(command)
    end = next((i for i, t in enumerate(tokens) if _is_operator(t)), len(tokens))
    for d in block.marked("budget"):
        if d.words[0] == verb and not (verb == "train" and "--resume" in tokens[:end]):
            tokens[end:end] = list(d.words[1:])
            end += len(d.words) - 1
    return tokens


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.splitlines()[-n:])


CLOSED_PIPE = {141, 32}  # killed by SIGPIPE, or exited with EPIPE: the reader stopped, as in `ls | head`


def _run_command(box: Sandbox, command: Command, block: Block) -> None:
    """Run one command line with bash; its last program must exit as expected, the programs piped
    into others with 0 (or quietly because the reader stopped reading), and nothing may print a
    traceback."""
    expected = [int(d.words[0]) for d in block.marked("exit") if command.matches(d.quoted[0])]
    tokens = _with_budget(command, block)
    if box.servers and box.port:
        tokens = [t.replace("127.0.0.1:8000", f"127.0.0.1:{box.port}") for t in tokens]
    typed = _shell_text(tokens)
    status = box.clone.parent / "pipestatus"
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", f'{typed}\nprintf "%s" "${{PIPESTATUS[*]}}" > {shlex.quote(str(status))}'],
        cwd=box.clone,
        env=box.env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    took = time.perf_counter() - start
    *piped, last = (int(code) for code in status.read_text().split())
    output = [f"  {line}" for line in (done.stdout + done.stderr).splitlines()[-8:]]
    box.note(f"$ {typed}    # README.md:{command.line}, exit {last}, {took:.1f} s", *output)
    want = expected[0] if expected else 0
    where = f"README.md:{command.line}: `{typed}`"
    assert "Traceback (most recent call last)" not in done.stdout + done.stderr, (
        f"{where} printed a traceback:\n{_tail(done.stderr, 40)}"
    )
    failed = [code for code in piped if code not in {0, *CLOSED_PIPE}]
    assert last == want and not failed, (
        f"{where} exited {' | '.join(map(str, [*piped, last]))}, expected {want}\n"
        f"--- stdout\n{_tail(done.stdout)}\n--- stderr\n{_tail(done.stderr)}"
    )


def _start_server(box: Sandbox, command: Command) -> None:
    """`nnscratch serve ...` in the background on a free port, until /healthz answers."""
    box.port = _free_port()
    tokens = [*command.tokens, "--port", str(box.port)]
    box.note(f"$ {_shell_text(tokens)} &    # README.md:{command.line}")
    server = subprocess.Popen(
        tokens, cwd=box.clone, env=box.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    box.servers.append(server)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            out, err = server.communicate()
            pytest.fail(
                f"README.md:{command.line}: `nnscratch serve` exited {server.returncode}:\n{err}{out}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{box.port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    box.note(f"  GET /healthz -> {answer.read().decode()[:200]}")
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"README.md:{command.line}: `nnscratch serve` did not answer /healthz within 120 s")


def _stop_servers(box: Sandbox) -> None:
    """Ctrl-C, as the README says; the server must stop cleanly with exit code 0."""
    servers, box.servers, box.port = box.servers, [], 0
    for server in servers:
        server.send_signal(signal.SIGINT)
    for server in servers:
        try:
            out, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
            pytest.fail(f"`nnscratch serve` did not stop on Ctrl-C within 30 s:\n{_tail(err)}")
        box.note(f"  (Ctrl-C) serve exited {server.returncode}")
        assert server.returncode == 0, (
            f"`nnscratch serve` exited {server.returncode} on Ctrl-C:\n{_tail(err)}"
        )
        assert "Traceback" not in out + err, _tail(err, 40)


def _run_bash(box: Sandbox, block: Block) -> None:
    for d in block.marked("edit"):
        _edit_toml(box.clone / d.words[0], d.words[1:])
    serve = bool(block.marked("serve"))
    for command in commands(block):
        skipped = [d for d in block.marked("skip") if d.quoted and command.matches(d.quoted[0])]
        if command.tokens[:2] == ("pip", "install") or skipped:
            box.note(f"# not run: {command.text}    # README.md:{command.line}")
        elif serve and nnscratch_verb(command) == "serve":
            _start_server(box, command)
        else:
            _run_command(box, command, block)


def _run_python(block: Block, namespace: dict) -> None:
    code = block.code
    for d in block.marked("sub"):
        code = code.replace(*d.quoted)
    padded = "\n" * (block.first_line - 1) + code  # tracebacks name README.md's own lines
    with _one_blas_thread():
        exec(compile(padded, str(README), "exec"), namespace)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """What OPENBLAS_NUM_THREADS=1 does for the commands, for this already running process."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


def _created_files(box: Sandbox) -> list[str]:
    found = [
        p.relative_to(box.clone).as_posix() for p in box.clone.rglob("*") if p.is_file() or p.is_symlink()
    ]
    return sorted(set(found) - box.original - box.prepared)


def _not_ignored(box: Sandbox, created: list[str]) -> list[str]:
    subprocess.run(["git", "init", "-q"], cwd=box.clone, check=True)
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=box.clone,
        input="\n".join(created),
        capture_output=True,
        text=True,
    )
    return sorted(set(created) - set(done.stdout.split()))


@pytest.fixture
def sandbox(tmp_path, mnist_path, monkeypatch) -> Iterator[Sandbox]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the sandbox is a copy of the git checkout's tracked files")
    box = _make_sandbox(tmp_path, mnist_path)
    box.log = Path(os.environ.get("NNSCRATCH_README_TRANSCRIPT") or tmp_path / "transcript.txt")
    box.log.write_text("")
    for name in [k for k in os.environ if k not in box.env]:
        monkeypatch.delenv(name)
    for name, value in box.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(box.clone)
    try:
        yield box
    finally:
        if box.servers:
            for server in box.servers:
                server.kill()
                server.communicate()


# ---------------------------------------------------------------------------- the walk


def walk(box: Sandbox, blocks: list[Block]) -> None:
    """Run the blocks in order (see the module's docstring); the first failure raises."""
    namespaces: dict[str, dict] = {}
    section = None
    for block in blocks:
        if block.section != section:
            _stop_servers(box)
            section = block.section
            namespaces.clear()  # one namespace per section; frees the previous one's arrays
        if block.lang not in ("bash", "python") or block.skip_reason is not None:
            continue
        if block.lang == "bash":
            _run_bash(box, block)
        else:
            start = time.perf_counter()
            _run_python(block, namespaces.setdefault(block.section, {"__name__": "__main__"}))
            took = time.perf_counter() - start
            box.note(f">>> python block at README.md:{block.first_line} ({block.section}): {took:.1f} s")
    _stop_servers(box)


@pytest.mark.mnist
def test_a_failing_command_or_snippet_fails_the_walk(sandbox):
    """The walk is not a formality: an unexpected exit code, an exception, a traceback all fail it."""
    cases = [
        (["nnscratch evaluate missing.npz"], "bash", [], "exited 1, expected 0"),
        (["nnscratch evaluate missing.npz | cat"], "bash", [], r"exited 1 \| 0, expected 0"),
        (
            ["nnscratch data info"],
            "bash",
            [parse_directive("exit 1 `nnscratch data info` (x)", 1)],
            "exited 0",
        ),
        (["python -c '1/0'"], "bash", [parse_directive("exit 1 `python -c` (even so)", 1)], "traceback"),
        (["x = 1", "assert x == 2, 'the snippet failed'"], "python", [], "the snippet failed"),
    ]
    for lines, lang, directives, message in cases:
        with pytest.raises(AssertionError, match=message) as failure:
            walk(sandbox, [Block(lang, 40, lines, "S", directives)])
        if lang == "python":  # the traceback names README.md's own line
            assert failure.traceback[-1].lineno + 1 == 41 and failure.traceback[-1].path == README
    expected = parse_directive("exit 1 `nnscratch evaluate missing.npz` (the README says so)", 1)
    walk(sandbox, [Block("bash", 1, ["nnscratch evaluate missing.npz"], "S", [expected])])  # passes
    walk(sandbox, [Block("bash", 1, ["yes | head -1", "python -c 'print(1)' | head -1"], "S")])  # passes


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:NNScratchClassifier. maximum iterations")  # the sklearn budget
def test_the_readme_runs_top_to_bottom(sandbox):
    pytest.importorskip("PIL")
    pytest.importorskip("matplotlib")
    walk(sandbox, parse_readme(README.read_text(encoding="utf-8")))
    created = _created_files(sandbox)
    assert "model.npz" in created  # the walk did happen
    loose = _not_ignored(sandbox, created)
    assert not loose, f"created by the README's commands but not git-ignored: {loose}"
