"""Every example command in README.md, docs/ and the stages' --help parses, and every
pipeline among them feeds each stage the records it accepts, so the docs cannot drift
from the CLI."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from stages import check, delete, manifest, repair

ROOT = Path(__file__).resolve().parents[2]
APPS = {"s3-manifest": manifest.app, "s3-check": check.app, "s3-repair": repair.app}
APPS["s3-delete"] = delete.app
OUTPUT_TYPE = {"s3-manifest": "object", "s3-check": "check", "s3-repair": "repair"}
OUTPUT_TYPE["s3-delete"] = "delete"
STAGE_WORD = re.compile(r"(^|[\s|;(\"'])s3-(manifest|check|repair|delete)\s")
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "$(", ":::"}


def command_of(stage: str) -> typer.core.TyperCommand:
    return typer.main.get_command(APPS[stage])


@dataclass
class Invocation:
    """One s3-* command of an example: the stage, its arguments, and the stage that
    feeds its stdin in the pipeline (None: not an s3deep stage)."""

    where: str
    stage: str
    args: list[str]
    piped_from: Invocation | None

    def option(self, *names: str) -> str | None:
        for i, arg in enumerate(self.args):
            for name in names:
                if arg == name and i + 1 < len(self.args):
                    return self.args[i + 1]
                if name.startswith("--") and arg.startswith(name + "="):
                    return arg.split("=", 1)[1]
        return None


def shell_tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;()")
    lexer.whitespace_split = True
    return list(lexer)


def invocations(text: str, where: str) -> Iterator[Invocation]:
    """The s3-* commands of one shell command line, in order, with their pipe feeders;
    a quoted argument holding a command line (`sh -c "..."`) is searched too."""
    previous: Invocation | None = None
    words: list[str] = []
    for token in [*shell_tokens(text), ";"]:
        if token not in SEPARATORS:
            words.append(token)
            continue
        found = None
        for i, word in enumerate(words):
            if word in APPS:
                found = Invocation(where, word, words[i + 1 :], previous)
                break
            if STAGE_WORD.search(word):
                yield from invocations(word, where)
        if found is not None:
            yield found
        previous = found if token == "|" else None
        words = []


def command_lines(code: list[str], yaml: bool) -> Iterator[str]:
    """Logical command lines of a code block: backslash continuations, quotes left
    open, and (YAML) a list item continued on deeper-indented lines are joined."""
    i = 0
    while i < len(code):
        line = code[i]
        indent = len(line) - len(line.lstrip())
        text = line.strip().removeprefix("- ") if yaml else line.strip()
        i += 1
        nested = yaml and STAGE_WORD.search(text) is not None
        while i < len(code):
            deeper = nested and len(code[i]) - len(code[i].lstrip()) > indent and code[i].strip()
            if text.endswith("\\"):
                text = text[:-1] + " " + code[i].strip()
            elif deeper or not quotes_balanced(text):
                text += "\n" + code[i].strip()
            else:
                break
            i += 1
        if STAGE_WORD.search(text) and not text.startswith('{"type":'):
            yield text  # (a line starting {"type": is a record or log line a stage printed)


def quotes_balanced(text: str) -> bool:
    try:
        shell_tokens(text)
    except ValueError:
        return False
    return True


def markdown_examples(path: Path) -> Iterator[Invocation]:
    """Commands in indented and fenced code blocks of a Markdown file."""
    lines = path.read_text().splitlines()
    block: list[str] = []
    fence: str | None = None
    name = path.relative_to(ROOT).as_posix()
    for number, line in enumerate([*lines, ""], 1):
        if fence is not None:
            if line.startswith("```"):
                for text in command_lines(block, fence == "yaml"):
                    yield from invocations(text, f"{name}:{number}")
                fence, block = None, []
            else:
                block.append(line)
        elif line.startswith("```"):
            fence = line[3:].strip() or "sh"
        elif line.startswith("    ") and (block or not lines[number - 2].strip()):
            block.append(line)
        elif block and not line.strip() and "".join(lines[number : number + 1]).startswith("    "):
            continue  # a blank line inside an indented block
        elif block:
            for text in command_lines(block, yaml=False):
                yield from invocations(text, f"{name}:{number}")
            block = []


def help_examples(stage: str) -> Iterator[Invocation]:
    """Commands in the `Examples:` block of a stage's --help."""
    help_text = command_of(stage).help or ""
    block = help_text.split("Examples:", 1)[1].split("\n\n", 1)[0]
    for text in command_lines(block.splitlines(), yaml=False):
        yield from invocations(text, f"{stage} --help")


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [
    *(example for path in DOCS for example in markdown_examples(path)),
    *(example for stage in APPS for example in help_examples(stage)),
]


def test_examples_were_found_for_every_stage_in_readme_and_help() -> None:
    for stage in APPS:
        wheres = {example.where for example in EXAMPLES if example.stage == stage}
        assert any(where.startswith("README.md") for where in wheres), stage
        assert any(where.endswith("--help") for where in wheres), stage
    pipelines = [example for example in EXAMPLES if example.piped_from is not None]
    assert {(e.piped_from.stage, e.stage) for e in pipelines if e.piped_from} >= {
        ("s3-manifest", "s3-check"),
        ("s3-check", "s3-repair"),
        ("s3-check", "s3-delete"),
        ("s3-manifest", "s3-delete"),
    }
    # Commands quoted inside other commands are found: GNU parallel, sh -c, YAML args.
    assert len(EXAMPLES) >= 50


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.where} {e.stage}")
def test_example_parses(example: Invocation) -> None:
    """Every option the example names exists and its value parses (no request is sent)."""
    command = command_of(example.stage)
    try:
        command.make_context(example.stage, list(example.args))
    except typer.TyperException as exc:
        pytest.fail(f"{example.where}: {example.stage} {shlex.join(example.args)}: {exc}")


def produced_files() -> dict[str, str]:
    """File name -> the stage whose example writes it with -o, across all the docs."""
    files: dict[str, str] = {}
    for example in EXAMPLES:
        output = example.option("-o", "--output")
        if output and output != "-" and example.option("--format") in (None, "ndjson"):
            files[output] = example.stage
    return files


def input_type(example: Invocation, files: dict[str, str]) -> str | None:
    path = example.option("-i", "--input")
    if path not in (None, "-"):
        producer = files.get(path or "")
        return OUTPUT_TYPE[producer] if producer else None
    feeder = example.piped_from
    if feeder is None or feeder.option("-o", "--output") not in (None, "-"):
        return None
    return None if feeder.option("--format") not in (None, "ndjson") else OUTPUT_TYPE[feeder.stage]


@pytest.mark.parametrize(
    "example",
    [example for example in EXAMPLES if example.stage != "s3-manifest"],
    ids=lambda e: f"{e.where} {e.stage}",
)
def test_example_gets_records_it_accepts(example: Invocation) -> None:
    """DESIGN: s3-check reads object records, s3-repair check records, s3-delete object
    records or check records with --status (required for them)."""
    records = input_type(example, produced_files())
    line = f"{example.where}: {example.stage} {shlex.join(example.args)}"
    if records is None:
        return
    if example.stage == "s3-check":
        assert records == "object", line
    elif example.stage == "s3-repair":
        assert records == "check", line
    else:
        assert records in ("object", "check"), line
        if records == "check":
            assert example.option("--status") is not None, f"{line}: needs --status"


def test_the_extractor_sees_pipes_quotes_and_continuations() -> None:
    text = "parallel --will-cite s3-check s3://d/ -i 'a b.ndjson' --shard {}/4 ::: 0 1"
    (found,) = invocations(text, "t")
    assert found.args == ["s3://d/", "-i", "a b.ndjson", "--shard", "{}/4"]
    lines = list(command_lines(["s3-manifest s3://s/ \\", "  | s3-delete s3://s/"], False))
    (source, sink) = invocations(lines[0], "t")
    assert sink.piped_from is source and sink.args == ["s3://s/"]
    nested = 'sh -c "s3-manifest s3://s/ | s3-check s3://d/"'
    assert [e.stage for e in invocations(nested, "t")] == ["s3-manifest", "s3-check"]
