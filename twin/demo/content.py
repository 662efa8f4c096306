"""The demo author's writing, bundled as markdown files with YAML front matter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml

AUTHOR_NAME = "Maya Okafor"
AUTHOR_HANDLE = "maya-okafor"
PUBLICATION = "Mise en Data"
BLOG_NAME = "okafor.dev"
REPOSITORIES = ("parquet-drift", "oncall-cookbook")


@dataclass
class Piece:
    """One post or article of the demo author."""

    platform: str
    slug: str
    title: str
    kind: str
    date: datetime
    body: str
    subtitle: str = ""
    tags: list[str] = field(default_factory=list)
    channel: str = "page"  # page | export | direct (linked on its own, outside the feed)

    @property
    def hex_id(self) -> str:
        """A stable 12-hex-digit id (Medium-style)."""
        return hashlib.sha1(f"{self.platform}/{self.slug}".encode()).hexdigest()[:12]

    @property
    def numeric_id(self) -> int:
        """A stable 19-digit id (LinkedIn activity-style)."""
        digest = int(hashlib.sha1(f"{self.platform}/{self.slug}".encode()).hexdigest(), 16)
        return 7_000_000_000_000_000_000 + digest % 999_999_999_999_999_999


def data_dir() -> Path:
    """The bundled demo data folder."""
    return Path(str(resources.files("twin.demo") / "data"))


def _parse(path: Path, platform: str) -> Piece:
    raw = path.read_text(encoding="utf-8")
    _, front, body = raw.split("---", 2)
    meta = yaml.safe_load(front) or {}
    date = meta.get("date")
    if isinstance(date, str):
        date = datetime.fromisoformat(date.replace("Z", "+00:00"))
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return Piece(platform=platform, slug=path.stem, title=str(meta.get("title", path.stem)),
                 kind=str(meta.get("kind", "article")), date=date, body=body.strip(),
                 subtitle=str(meta.get("subtitle") or ""), tags=list(meta.get("tags") or []))


def load_pieces() -> list[Piece]:
    """Every bundled piece, with the channel the demo publishes it through.

    The oldest items of some platforms live only in the export archives (as they would for a
    person whose feeds show recent work only): 4 LinkedIn posts and 1 Pulse article, 1 Medium
    story, 1 Substack post. The second-oldest Medium story is linked directly, outside the feed.
    """
    pieces: list[Piece] = []
    root = data_dir() / "content"
    for platform_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        pieces.extend(_parse(f, platform_dir.name) for f in sorted(platform_dir.glob("*.md")))
    by = {p: sorted((x for x in pieces if x.platform == p), key=lambda x: x.date)
          for p in {x.platform for x in pieces}}
    posts = [x for x in by.get("linkedin", []) if x.kind == "post"]
    pulse = [x for x in by.get("linkedin", []) if x.kind != "post"]
    for piece in posts[:4] + pulse[:1] + by.get("medium", [])[:1] + by.get("substack", [])[:1]:
        piece.channel = "export"
    if len(by.get("medium", [])) > 1:
        by["medium"][1].channel = "direct"
    return pieces
