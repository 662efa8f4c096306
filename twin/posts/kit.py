"""An author's kit for finishing drafts: the channel profile the checks use and the voice model
that scores them, kept together in one folder per author (``voice/<author_id>/`` of a dataset
version, which the registry copies into every model version trained on it).

The Serve app and the evaluation both finish drafts with :meth:`AuthorKit.finish`, so a served
post and an evaluated one go through the same shaping, checks and best-of-N choice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.posts.choose import Finished, finish
from twin.posts.grounding import Grounding
from twin.posts.profile import PROFILE_FILE, ChannelProfile, channel_profile, generic_profile
from twin.settings import PostSettings, Settings
from twin.voice.model import MODEL_FILE, VoiceModel, VoiceScore

log = logging.getLogger(__name__)


@dataclass
class AuthorKit:
    """One author's channel profile and voice model (None: no voice model was built)."""

    author_id: str
    profile: ChannelProfile
    voice: VoiceModel | None = None

    @classmethod
    def load(cls, folder: Path | str | None, author_id: str,
             settings: PostSettings) -> AuthorKit:
        """The kit in ``folder`` (an author's folder under a version's ``voice/``); what is
        missing there is the generic profile and no voice model."""
        path = Path(folder) if folder else None
        profile = ChannelProfile.load(path) if path and (path / PROFILE_FILE).is_file() \
            else generic_profile(settings)
        voice = None
        if path and (path / MODEL_FILE).is_file():
            try:
                voice = VoiceModel.load(path)
            except ValueError as exc:  # saved by an older release: drafts go unscored
                log.warning("the voice model in %s cannot be used (%s): rebuild the dataset "
                            "(twin dataset) and train to score drafts again", path, exc)
        return cls(author_id=author_id, profile=profile, voice=voice)

    def score(self, text: str) -> VoiceScore | None:
        """How much ``text`` sounds like the author, with its evidence (None: no model)."""
        return self.voice.score(text) if self.voice is not None else None

    def finish(self, drafts: Sequence[str], settings: PostSettings, request: str,
               material: Iterable[str] = (), urls: Iterable[str] = (),
               max_words: int | None = None) -> Finished:
        """Shape every candidate draft for the author's channel, check it (the request and
        the material it was given are what names, numbers and links may come from) and keep
        the best by checks passed, then voice score."""
        grounding = Grounding.of(request, list(material), list(urls))
        scorer = (lambda text: self.voice.probabilities([text])[0]) if self.voice else None
        finished = finish(drafts, self.profile, settings, grounding, scorer, max_words)
        if not finished.post.strip():
            # Said, never an empty answer that looks like a success.
            finished.notes.insert(0, "no draft had anything left after shaping for your "
                                  "channel (" + ("; ".join(finished.changes) or "it was empty")
                                  + "): ask again, or ask for more drafts")
        return finished


def kit_folder(root: Path | str | None, author_id: str) -> Path | None:
    """An author's folder under a ``voice/`` root (None: no root)."""
    return Path(root) / author_id if root else None


def kit_authors(root: Path | str | None) -> list[str]:
    """The authors that have a kit under ``root``."""
    folder = Path(root) if root else None
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) \
        if folder and folder.is_dir() else []


def write_profiles(settings: Settings, samples: list[dict[str, Any]], root: Path,
                   documents: Iterable[Any]) -> dict[str, str]:
    """Each sample author's channel profile, measured on their documents outside the test
    split (so the evaluation never checks a post against a profile that holds it), saved in
    their kit folder under ``root``; what each was measured on, by author."""
    held_out = {s.get("document_id") for s in samples if s.get("split") == "test"}
    authors = sorted({s["author_id"] for s in samples})
    docs = [d for d in documents if d.id not in held_out]
    out = {}
    for author in authors:
        profile = channel_profile([d for d in docs if d.author_id == author], settings.posts)
        profile.save(root / author)
        out[author] = profile.described
    return out
