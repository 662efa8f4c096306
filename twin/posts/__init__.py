"""Drafts shaped for the author's channel and checked (issue 16, part 5).

- :func:`channel_profile` measures the author's own posts on a channel (length, rhythm,
  hashtags, headings, emoji) into a JSON-serialisable :class:`ChannelProfile`.
- :func:`shape` turns a draft into a post of that channel (deterministic text transforms).
- :func:`check_draft` checks a draft against the profile and the request's sources
  (:class:`Grounding`), each :class:`Check` passed or failed with a reason.
- :func:`choose` picks the best of several candidates by (checks passed, voice score);
  :func:`finish` does shape, check and choose for one request's candidates.
"""

from twin.posts.checks import Check, check_draft
from twin.posts.choose import Candidate, Choice, Finished, checker, choose, finish
from twin.posts.grounding import Grounding, Ungrounded
from twin.posts.profile import PROFILE_FILE, ChannelProfile, Range, channel_profile, generic_profile
from twin.posts.shape import Shaped, shape

__all__ = ["PROFILE_FILE", "Candidate", "ChannelProfile", "Check", "Choice", "Finished",
           "Grounding", "Range", "Shaped", "Ungrounded", "channel_profile", "check_draft",
           "checker", "choose", "finish", "generic_profile", "shape"]
