"""Held-out answers finished the way the Serve app finishes a post: every candidate shaped for
the author's channel and checked, the best kept by voice score less ``posts.check_cost`` per
failed check (the author's kit of the evaluated dataset, whose voice model never saw the test
split), and the measures a reader cares about: does it sound like the author, does it pass the
checks, does it end in a full sentence, does it link only to its sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.domain.models import VOICE_DIR
from twin.posts.grounding import Grounding, urls_in
from twin.posts.kit import AuthorKit, kit_folder
from twin.prompting import chunks_of
from twin.settings import Settings

DRAFT_MEASURES = ("voice_score", "checks_passed", "all_checks", "full_sentence",
                  "foreign_urls")
"""Per held-out prompt, of the finished post."""


def finish_answers(settings: Settings, dataset_dir: Path, samples: list[dict[str, Any]],
                   candidates: list[list[str]]) -> list[dict[str, Any]]:
    """One finished post per sample (``candidates``: that sample's drafts), with its checks,
    voice score and evidence, and the measures of :data:`DRAFT_MEASURES`."""
    kits: dict[str, AuthorKit] = {}
    out = []
    for sample, drafts in zip(samples, candidates, strict=True):
        author = sample["author_id"]
        if author not in kits:
            folder = kit_folder(Path(dataset_dir) / VOICE_DIR, author)
            kits[author] = AuthorKit.load(folder if folder and folder.is_dir() else None,
                                          author, settings.posts)
        kit = kits[author]
        chunks = chunks_of(sample)
        material, urls = [c.text for c in chunks], [c.url for c in chunks if c.url]
        finished = kit.finish(drafts or [""], settings.posts, sample["instruction"], material,
                              urls, sample.get("max_words"))
        voice = kit.score(finished.post)
        grounding = Grounding.of(sample["instruction"], material, urls)
        checks = finished.checks
        out.append({
            "post": finished.post, "voice": voice.as_dict() if voice else None,
            "checks": [c.to_dict() for c in checks], "notes": finished.notes,
            "candidates": finished.choice.table(),
            "measures": {
                "voice_score": voice.score if voice else float("nan"),
                "checks_passed": sum(c.passed for c in checks) / max(1, len(checks)),
                "all_checks": float(all(c.passed for c in checks)),
                "full_sentence": float(next((c.passed for c in checks
                                             if c.name == "complete ending"), False)),
                "foreign_urls": float(sum(not grounding.has_url(u)
                                          for u in urls_in(finished.post)))}})
    return out


def measures(finished: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The per-prompt measures of finished posts, by measure (a measure no post has, such as
    the voice score without a voice model, is left out)."""
    out = {m: [float(f["measures"][m]) for f in finished] for m in DRAFT_MEASURES}
    return {m: v for m, v in out.items() if v and all(x == x for x in v)}
