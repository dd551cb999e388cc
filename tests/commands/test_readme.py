"""The README and docs/ stay usable: size, links, documented commands, and the docs index."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

ROOT = REPO
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_BYTES = 12_288

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def relative_links(text: str) -> list[str]:
    """Link targets of a Markdown text that are files of this repository (no URL, no bare anchor)."""
    text = _FENCE.sub("", text)  # links inside code blocks are code
    targets = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


_INLINE = re.compile(r"`(umust [^`]+)`")


def umust_commands(text: str) -> list[str]:
    """The subcommand of every ``umust ...`` line (after an optional ``$ ``) of the text's code blocks,
    and of every inline ``umust ...`` code span outside them (the command table); ``""`` for a line
    with no subcommand (``umust --help``)."""
    commands = []
    lines = [line for block in _FENCE.findall(text) for line in block.splitlines()]
    lines += _INLINE.findall(_FENCE.sub("", text))
    for line in lines:
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:].lstrip()
        if not line.startswith("umust "):
            continue
        words = line.split()
        command = words[1] if len(words) > 1 and not words[1].startswith("-") else ""
        if command not in commands:
            commands.append(command)
    return commands


#: the console script's entry point (src/umust_cli.py), as `umust` runs it
UMUST = [sys.executable, "-c", "import sys, umust_cli; sys.exit(umust_cli.main(sys.argv[1:]))"]


def _env() -> dict[str, str]:
    """This checkout's ``src`` first on the path of the child process (pytest's pythonpath is not inherited)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {MAX_README_BYTES})"


def test_docs_exist():
    assert (DOCS / "README.md").is_file()
    assert len(doc_files()) >= 2


@pytest.mark.parametrize("path", [README, *doc_files()], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(path):
    missing = [t for t in relative_links(path.read_text(encoding="utf-8"))
               if not (path.parent / t).exists()]  # fmt: skip
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


def test_docs_index_links_every_page():
    index = DOCS / "README.md"
    linked = {(DOCS / t).resolve() for t in relative_links(index.read_text(encoding="utf-8"))}
    unlinked = [p.name for p in doc_files() if p != index and p.resolve() not in linked]
    assert not unlinked, f"docs/README.md does not link {unlinked}"


README_COMMANDS = umust_commands(README.read_text(encoding="utf-8"))


def test_readme_documents_commands():
    assert "demo" in README_COMMANDS


@pytest.mark.parametrize("command", README_COMMANDS, ids=lambda c: c or "umust")
def test_readme_command_has_help(command):
    argv = [*UMUST, *([command] if command else []), "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT)
    assert result.returncode == 0, f"`umust {command} --help` exited {result.returncode}: {result.stderr[-2000:]}"


# the helpers themselves: each check must be able to fail


def test_relative_links_finds_broken_and_skips_urls(tmp_path):
    text = "[a](missing.md) [b](https://example.org) [c](#anchor) [d](docs/x.md#part) ![img](pic.png)\n```\n[e](code.md)\n```\n"
    assert relative_links(text) == ["missing.md", "docs/x.md"]
    assert not (tmp_path / "missing.md").exists()


def test_umust_commands_reads_code_blocks_only():
    text = "umust prose `umust render x`\n```bash\n$ umust omr a b\numust --help\n.venv/bin/umust demo\numust omr c d\n```\n"
    assert umust_commands(text) == ["omr", "", "render"]


def test_unknown_command_fails_help():
    result = subprocess.run([*UMUST, "no-such-command", "--help"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())  # fmt: skip
    assert result.returncode != 0
