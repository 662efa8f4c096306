"""Self-query: which author and which platform a request is about, as search filters.

Rule-based, so it needs no model: the author is the one asked for, else one whose name the
prompt mentions, else the only author in the knowledge base. A platform filter is set only
when the prompt asks for material *from* a platform ("from my Medium articles"), not when it
names the platform the post is for ("write a LinkedIn post").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin.domain import slugify

PLATFORM_WORDS = {"linkedin": "linkedin", "medium": "medium", "substack": "substack",
                  "github": "github", "blog": "web", "website": "web"}
_PLATFORM = "|".join(PLATFORM_WORDS)
_FROM_PLATFORM = [
    re.compile(rf"\b(?:from|in|on|based on|using|drawing on)\s+my\s+({_PLATFORM})\b", re.I),
    re.compile(rf"\bmy\s+({_PLATFORM})\s+(?:posts?|articles?|stories|newsletters?|essays?|"
               r"repos(?:itories)?|writing)\b", re.I),
]


@dataclass(frozen=True)
class Filters:
    """Search filters a request implies."""

    author_id: str | None = None
    platform: str | None = None


def self_query(prompt: str, authors: dict[str, str], author: str | None = None) -> Filters:
    """Filters for ``prompt``; ``authors`` maps author ids to display names."""
    author_id = slugify(author) if author else None
    if author_id is None:
        lowered = prompt.lower()
        named = [a for a, name in authors.items() if name and name.lower() in lowered]
        if len(named) == 1:
            author_id = named[0]
        elif len(authors) == 1:
            author_id = next(iter(authors))
    platform = None
    for pattern in _FROM_PLATFORM:
        match = pattern.search(prompt)
        if match:
            platform = PLATFORM_WORDS[match.group(1).lower()]
            break
    return Filters(author_id=author_id, platform=platform)
