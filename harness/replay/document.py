"""A document that shows a node's commands (a wiki page like the seed's, in Markdown): the commands in its code
blocks are the trace, its prose is skipped, and a listing it shows (a block line `# losetup -a` or `# dmsetup
table | sort` followed by that command's output) is an expectation checked at its place, not a command."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.checks.compare import compare
from harness.replay.trace import TraceCommand, parse_trace

_LISTING = re.compile(r"^# (?P<cmd>(?:losetup|dmsetup|ls|cat|mount|df)\b.*?)\s*$")


@dataclass
class Listing:
    lineno: int
    command: str          # as the document writes it (`dmsetup table | sort`)
    expected: str
    after: int            # how many of the document's commands come before it

    @property
    def run(self) -> str:
        """What to run: the order of lines is compared away, so `| sort` is not needed on the node."""
        return re.sub(r"\s*\|\s*sort\s*$", "", self.command).strip()


@dataclass
class Document:
    commands: list[TraceCommand] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)


def is_document(text: str) -> bool:
    """Markdown with code blocks and prose around them."""
    lines = text.splitlines()
    fences = sum(1 for line in lines if line.strip().startswith("```"))
    prose = sum(1 for line in lines if re.match(r"^(#{1,6} |\* |- |[A-Z][a-z]+ )", line))
    return fences >= 2 and prose >= 2


def parse_document(text: str, name: str) -> Document:
    doc = Document()
    block: list[tuple[int, str]] = []
    inside = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("```"):
            if inside:
                _read_block(block, name, doc)
                block = []
            inside = not inside
            continue
        if inside:
            block.append((lineno, line))
    return doc


def _read_block(block: list[tuple[int, str]], name: str, doc: Document) -> None:
    listing: Listing | None = None
    commands: list[tuple[int, str]] = []
    for lineno, line in block:
        m = _LISTING.match(line)
        if m:
            _flush(commands, name, doc)
            commands = []
            listing = Listing(lineno, m.group("cmd"), "", len(doc.commands))
            doc.listings.append(listing)
            continue
        if listing is not None:
            listing.expected += line.rstrip() + "\n" if line.strip() else ""
        else:
            commands.append((lineno, line))
    _flush(commands, name, doc)


def _flush(lines: list[tuple[int, str]], name: str, doc: Document) -> None:
    """A block's command lines, parsed as a trace whose line numbers are the document's."""
    if not lines:
        return
    first = lines[0][0]
    text = "\n" * (first - 1) + "\n".join(line for _, line in lines)
    doc.commands += parse_trace(text, name)


def unshown(doc: Document) -> dict[int, str]:
    """Listings that show a state the document reaches by steps it does not show: the same listing as an
    earlier one with no command between them, yet different. Said, not checked."""
    out: dict[int, str] = {}
    previous: dict[str, Listing] = {}
    for listing in doc.listings:
        before = previous.get(listing.run)
        if before is not None and before.after == listing.after and compare(before.expected, listing.expected,
                                                                              "lines", ["inodes"]):
            out[listing.lineno] = (f"line {listing.lineno}: '# {listing.command}' shows a state reached by steps "
                                   f"the document does not show (no command since line {before.lineno}): not checked")
        previous[listing.run] = listing
    return out


def check_listing(listing: Listing, actual: str) -> str:
    """'' when the node prints what the document shows (line order and inode numbers aside)."""
    return compare(listing.expected, actual, "lines", ["inodes"])
