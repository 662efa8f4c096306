"""Drafts shaped for the channel and checked (issue 16, part 5): the demo author's real posts
are the profile and the held-out truth; bad drafts are the ones a small model writes, as
literal inputs (nothing here generates)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import demo_documents
from twin.domain import LINK_ORIGIN, Document
from twin.evaluate.style import StyleProfile
from twin.posts import (
    PROFILE_FILE,
    ChannelProfile,
    Grounding,
    channel_profile,
    check_draft,
    checker,
    choose,
    finish,
    generic_profile,
    shape,
)
from twin.posts.grounding import names_in, numbers_in, urls_in
from twin.posts.text import (
    emoji_count,
    ends_sentence,
    hashtags,
    heading_lines,
    split_closing,
    split_tags,
    word_count,
)
from twin.settings import PostSettings

SETTINGS = PostSettings()
REQUEST = "a post about what a partner's silent schema change taught us about data contracts"
# What the demo's POST /v1/posts answered before this issue (issue 16), extended the way such
# drafts go on: an image link made up, headings, a statistic and names from nowhere, a link to
# a site that does not exist, an inline hashtag, and a last sentence cut off by the token limit.
ISSUE_DRAFT = """**Title: What a Silent Schema Change Taught Us**

### [1][data_schema_dance](https://trac.kubernetes.atto.io/wiki/data_schema_dance.png)

## Introduction

Data contracts are a powerful tool for data teams. In this article, we will explore how a partner's silent schema change taught us about data contracts. According to Sarah Johnson from Acme Analytics, 73% of pipelines break because of schema changes. #DataContracts are important.

Read more at https://invented.example/blog/data-contracts and [our docs](https://docs.invented.example/contracts).

When the partner changed the schema, our pipeline broke. We learned that a contract is mise en place for data. And after you've finished with it, you have a huge"""  # noqa: E501
# The assistant-style answer the real-author run got ("What's amazing is that you've actually
# built..."), with emoji and hashtags the author never writes that way.
ASSISTANT_DRAFT = """What's amazing is that you've actually built a data contract for your depot scans feed! 🚀🚀🚀 #Innovation

Here are some key takeaways:

- **Contracts matter**: they tell producers what to keep stable ✨
- **Communication**: talk to the team that owns the feed 💬

In conclusion, data contracts are the future of #AI and #DataEngineering. 🎉"""  # noqa: E501
INVENTED = re.compile(r"invented\.example|atto\.io")


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return demo_documents()


@pytest.fixture(scope="module")
def posts(documents: list[Document]) -> list[Document]:
    return [d for d in documents if d.platform.value == "linkedin" and d.kind.value == "post"]


@pytest.fixture(scope="module")
def profile(documents: list[Document]) -> ChannelProfile:
    return channel_profile(documents, SETTINGS)


@pytest.fixture(scope="module")
def grounding(documents: list[Document]) -> Grounding:
    """What retrieval would hand over for the request: her writing about contracts."""
    sources = [d for d in documents if "contract" in d.text.lower()][:4]
    return Grounding.of(REQUEST, [d.text for d in sources], [d.url for d in sources])


def test_the_profile_is_her_linkedin_habit(profile: ChannelProfile, posts: list[Document]):
    """Measured on her 13 LinkedIn posts: 140-180 words, mostly one-sentence paragraphs, three
    hashtags in a closing line, no headings, an emoji in most posts."""
    assert (profile.source, profile.posts) == ("linkedin posts", len(posts)) and len(posts) >= 10
    assert 140 <= profile.words.low <= profile.words.median <= profile.words.high <= 185
    assert profile.one_line_share.median >= 0.5 and profile.paragraphs.median >= 10
    assert profile.hashtag_placement == "end" and profile.hashtag_share == 1.0
    assert profile.hashtags_per_post.min == profile.hashtags_per_post.max == 3
    assert profile.top_hashtags[0] == "DataEngineering"  # her most used, as she spells it
    assert profile.heading_share == 0.0 and profile.emoji_share > 0.5
    assert all(profile.hashtag_words[t] for t in profile.top_hashtags[:5])


def test_the_profile_round_trips_as_json(profile: ChannelProfile, tmp_path):
    path = profile.save(tmp_path / "dataset")
    assert path.name == PROFILE_FILE
    assert ChannelProfile.load(tmp_path / "dataset") == profile


def test_other_channels_and_fallbacks(documents: list[Document]):
    """Medium articles have headings and no hashtags; with no posts on a channel the author's
    posts elsewhere stand in, then all their prose, then the generic profile. Warehouse rows
    read as documents do; material saved from links is not the author's."""
    medium = channel_profile(documents, SETTINGS, platform="medium", kind="article")
    assert medium.source == "medium articles" and medium.heading_share == 1.0
    assert medium.hashtag_placement == "none" and medium.words.low > 500
    assert channel_profile(documents, SETTINGS, platform="substack").source == "posts"
    rows = [d.model_dump(mode="json") | {"metadata": "{}"} for d in documents]
    assert channel_profile(rows, SETTINGS) == channel_profile(documents, SETTINGS)
    saved = [d.model_copy(update={"metadata": {"origin": LINK_ORIGIN}}) for d in documents]
    assert channel_profile(saved, SETTINGS) == generic_profile(SETTINGS)  # not her words
    no_posts = [d for d in documents if d.kind.value != "post"]
    assert channel_profile(no_posts, SETTINGS).source == "all writing"
    assert channel_profile([], SETTINGS) == generic_profile(SETTINGS)


def test_her_own_held_out_posts_pass_and_are_left_alone(documents: list[Document],
                                                        posts: list[Document]):
    """Leave one out: each of her posts, checked against the profile of her other writing,
    passes every channel check, and shaping leaves it as she wrote it."""
    passed = unchanged = 0
    for post in posts:
        held_out = channel_profile([d for d in documents if d.id != post.id], SETTINGS)
        results = check_draft(post.text, held_out, SETTINGS)
        passed += all(c.passed for c in results)
        unchanged += shape(post.text, held_out, SETTINGS).text == post.text.strip()
    assert passed / len(posts) >= 0.9, passed
    assert unchanged / len(posts) >= 0.9, unchanged


def test_her_articles_pass_on_their_own_channels(documents: list[Document]):
    """The same on her articles (Medium, Substack, blog, LinkedIn Pulse), each against the
    profile of her other articles on that channel: headings, code and her sign-off are hers
    there. Fewer pieces per channel (4-6), so a habit seen once (code in one of six Substack
    posts) is not one yet, and paragraph lengths vary more: 75%."""
    articles = [d for d in documents if d.kind.value == "article"]
    passed = unchanged = 0
    for article in articles:
        others = [d for d in documents if d.id != article.id]
        held_out = channel_profile(others, SETTINGS, article.platform.value, "article")
        assert held_out.source == f"{article.platform.value} articles"
        passed += all(c.passed for c in check_draft(article.text, held_out, SETTINGS))
        unchanged += shape(article.text, held_out, SETTINGS).text == article.text.strip()
    assert len(articles) >= 15
    assert passed / len(articles) >= 0.75 and unchanged / len(articles) >= 0.8, (passed,
                                                                                unchanged)


def test_the_issue_draft_is_shaped_into_a_post(profile: ChannelProfile, grounding: Grounding):
    before = {c.name: c.passed for c in check_draft(ISSUE_DRAFT, profile, SETTINGS, grounding)}
    assert not any(before[n] for n in ("complete ending", "headings", "markdown",
                                       "grounding"))
    shaped = shape(ISSUE_DRAFT, profile, SETTINGS, grounding)
    text = shaped.text
    assert heading_lines(text) == 0 and "](" not in text and "[1]" not in text
    assert "Title" not in text and "**" not in text
    assert not INVENTED.search(text) and not urls_in(text)
    body, tags = split_tags(text)
    assert ends_sentence(body) and body.endswith("mise en place for data.")
    assert "you have a huge" not in text
    assert "data contracts are important" in body.lower()  # the inline tag read as words
    assert tags and set(tags) <= set(profile.top_hashtags) and "DataContracts" in tags
    assert all(len(p.split()) <= 25 for p in body.split("\n\n"))  # her short paragraphs
    after = {c.name: c for c in check_draft(text, profile, SETTINGS, grounding)}
    assert all(after[n].passed for n in ("complete ending", "headings", "markdown"))
    # The invented facts cannot be fixed by shaping: they are named for the reader.
    assert not after["grounding"].passed
    assert "Sarah Johnson" in after["grounding"].reason and "73" in after["grounding"].reason
    notes = "\n".join(shaped.notes)
    for invented in ("https://trac.kubernetes.atto.io/wiki/data_schema_dance.png",
                     "https://invented.example/blog/data-contracts",
                     "https://docs.invented.example/contracts", "Sarah Johnson",
                     "Acme Analytics", "73"):
        assert invented in notes
    assert not after["length"].passed and "words" in after["length"].reason


def test_article_fragments_are_cut_to_posts(documents: list[Document],
                                            profile: ChannelProfile):
    """Her Medium articles, 600+ words with headings and code, given as LinkedIn drafts:
    headings and code blocks go, each is cut at a sentence within her longest post, and its
    paragraphs keep her rhythm."""
    articles = [d for d in documents if d.platform.value == "medium"]
    assert len(articles) >= 5 and all("```" in d.text for d in articles)
    for article in articles:
        assert word_count(article.text) > 600 and heading_lines(article.text) > 3
        shaped = shape(article.text, profile, SETTINGS)
        body, sign_off, _ = split_closing(shaped.text)
        assert not sign_off and "— Maya" in article.text  # she signs articles, not posts
        assert heading_lines(shaped.text) == 0 and "```" not in shaped.text
        assert word_count(body) <= profile.max_words(SETTINGS) and ends_sentence(body)
        assert f"trimmed to {profile.max_words(SETTINGS)} words, at a sentence" in shaped.changes
        checks = {c.name: c for c in check_draft(shaped.text, profile, SETTINGS)}
        for name in ("length", "complete ending", "headings", "markdown"):
            assert checks[name].passed, (article.title, checks[name])
    # A list the token limit cut at its next number: "8." is no sentence.
    listed = shape("Edit your posts regularly.\n\n1. Be concise.\n2. Be kind.\n8.",
                   generic_profile(SETTINGS), SETTINGS)
    assert listed.text == "Edit your posts regularly.\n\n1. Be concise.\n2. Be kind."
    # A draft the token limit cut inside a code block: the block goes, the prose stays.
    cut = shape("Here is the check we run on every file.\n\n```python\nimport pyarrow as pa\n"
                "schema = pa.", profile, SETTINGS)
    assert split_tags(cut.text)[0] == "Here is the check we run on every file."


def test_hashtags_and_emoji_as_she_uses_them(profile: ChannelProfile, documents: list[Document]):
    shaped = shape(ASSISTANT_DRAFT, profile, SETTINGS)
    body, tags = split_tags(shaped.text)
    assert not hashtags(body) and len(tags) <= 3  # inline tags moved to the closing line
    assert body.startswith("What's amazing is that you've actually built a data contract for "
                           "your depot scans feed! 🚀\n")  # the tag closing that line moved
    assert "the future of AI and data engineering" in body
    assert "**" not in body and "🚀🚀" not in body and emoji_count(body) <= 1
    raw = {c.name for c in check_draft(ASSISTANT_DRAFT, profile, SETTINGS) if not c.passed}
    failed = {c.name for c in check_draft(shaped.text, profile, SETTINGS) if not c.passed}
    assert {"emoji", "markdown", "hashtags"} <= raw  # six emoji: she writes at most one
    assert not {"emoji", "markdown", "hashtags", "complete ending"} & failed
    joined = shape("We banned the word 🙅\u200d♀\ufe0f🙅\u200d♀\ufe0f today. It stuck 🔪", profile,
                   SETTINGS).text
    # One emoji, whole; the sentence the second one ended is no sentence without it.
    assert joined == "We banned the word 🙅\u200d♀\ufe0f today."
    mixed = shape("We ship on Fridays. #SRE is hard and #oncall too.\n\n#sre #DataEngineering",
                  profile, SETTINGS)
    assert mixed.text == ("We ship on Fridays. SRE is hard and oncall too.\n\n"
                          "#SRE #DataEngineering #OnCall")  # once each, spelled as she does
    # An author who never tags (her Medium articles): hashtags are removed.
    medium = channel_profile(documents, SETTINGS, platform="medium", kind="article")
    untagged = shape(ASSISTANT_DRAFT, medium, SETTINGS)
    assert not hashtags(untagged.text) and "#" not in untagged.text
    assert "headings" not in {c.name for c in check_draft(ASSISTANT_DRAFT, medium, SETTINGS)
                              if not c.passed}


def test_grounding_keeps_what_the_sources_hold(documents: list[Document]):
    source = next(d for d in documents if d.url.endswith("/we-deleted-63-dashboards"))
    request = "Write about pruning dashboards with Priya Raman from finance"
    grounding = Grounding.of(request, [source.text], [source.url])
    draft = (f"We deleted 63 dashboards, and Priya Raman from finance noticed none of them. "
             f"The full story is at {source.url}/ and the spreadsheet at "
             f"https://invented.example/sheet.xlsx, shared by Tom Baxter in 2019.")
    shaped = shape(draft, generic_profile(SETTINGS), SETTINGS, grounding)
    assert source.url + "/" in shaped.text and "invented.example" not in shaped.text
    missing = grounding.missing(shaped.text, SETTINGS.min_checked_number)
    assert missing.names == ["Tom Baxter"] and missing.numbers == ["2019"] and not missing.urls
    assert names_in("The team met Ada Lovelace and @grace_h. Today we ship.") == [
        "Ada Lovelace", "@grace_h"]
    assert numbers_in("1. Start\n2. We cut 412 alerts to 37 in 3 weeks.", 10) == ["412", "37"]


def test_choose_takes_the_passing_draft_that_sounds_most_like_her(
        profile: ChannelProfile, posts: list[Document], documents: list[Document]):
    """Two of her held-out posts pass everything: the voice score (here the project's
    stylometric distance to her other posts, as a stand-in callable) decides between them;
    the bad drafts lose on their failed checks."""
    held = posts[:2]
    rest = [d for d in documents if d not in held]
    style = StyleProfile.of([d.text for d in rest if d.kind.value == "post"])

    def voice(text: str) -> float:
        return 1.0 / (1.0 + style.distance(text))

    own = channel_profile(rest, SETTINGS)
    candidates = [ISSUE_DRAFT, held[0].text, ASSISTANT_DRAFT, held[1].text]
    choice = choose(candidates, checker(own, SETTINGS), voice)
    rows = choice.table()
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and sum(r["chosen"] for r in rows) == 1
    assert rows[1]["passed"] == rows[1]["checks"] == rows[3]["passed"]
    assert rows[0]["passed"] < rows[1]["passed"] and rows[2]["failed"]
    better = max((1, 3), key=lambda i: rows[i]["voice"])
    assert choice.best.index == better
    assert choose(candidates, checker(own, SETTINGS)).best.index == 1  # no scorer: order


def test_a_failed_soft_check_costs_less_than_sounding_like_someone_else(
        profile: ChannelProfile, posts: list[Document]) -> None:
    """Best-of-N weighs checks against the voice score: a draft of hers that misses one check
    (its hashtags) beats a draft that passes every check but scores far lower on voice; a draft
    failing many checks loses whatever its score; ``check_cost`` >= 1 puts checks first."""
    body, _ = split_tags(posts[0].text)
    whole = posts[0].text
    drafts = [whole, body, ASSISTANT_DRAFT]
    rules = checker(profile, SETTINGS)
    passed = [sum(c.passed for c in rules(d)) for d in drafts]
    assert passed[0] == len(rules(whole)) and passed[1] == passed[0] - 1 > passed[2]
    voices = {whole: 0.30, body: 0.90, ASSISTANT_DRAFT: 1.0}
    assert choose(drafts, rules, voices.__getitem__).best.index == 1
    assert choose(drafts, rules, voices.__getitem__, check_cost=1.0).best.index == 0
    close = {whole: 0.85, body: 0.90, ASSISTANT_DRAFT: 1.0}  # 0.05 apart: the check decides
    assert choose(drafts, rules, close.__getitem__).best.index == 0
    # A complete ending is never traded for voice: her post cut mid-sentence loses.
    cut = whole[: whole.index(" ", len(whole) // 2)]
    ended = [c for c in rules(cut) if c.name == "complete ending"]
    assert ended and not ended[0].passed
    assert choose([cut, body], rules, {cut: 1.0, body: 0.2}.__getitem__).best.index == 1


def test_finish_returns_a_checked_post(profile: ChannelProfile, posts: list[Document],
                                       documents: list[Document]):
    """The Serve app's step: three candidates shaped, checked, the best returned. Her post with
    a made-up link appended is shaped back to a passing post and chosen."""
    post = posts[0]
    body, tags = split_tags(post.text)
    linked = (body + "\n\nRead the full write-up at https://invented.example/contracts-post"
              "\n\n" + " ".join("#" + t for t in tags))
    grounding = Grounding.of(post.title, [post.text], [post.url])
    result = finish([ISSUE_DRAFT, linked, ASSISTANT_DRAFT], profile, SETTINGS, grounding)
    assert result.choice.best.index == 1 and result.post == post.text.strip()
    assert all(c.passed for c in result.checks), [c for c in result.checks if not c.passed]
    assert any("invented.example/contracts-post" in n for n in result.notes)
    for candidate in result.choice.candidates:
        assert ends_sentence(split_tags(candidate.text)[0])
        assert not INVENTED.search(candidate.text)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["post"] == result.post and len(record["candidates"]) == 3
    assert "words" in record["candidates"][0]["failed"]["length"]  # too short once shaped
    with pytest.raises(ValueError):
        choose([], checker(profile, SETTINGS))


def test_a_request_can_ask_for_less(profile: ChannelProfile, posts: list[Document]):
    """A request's max_words caps the length: her post is cut at a sentence within it, keeps
    its hashtags, and passes the length check for that request (not for her usual range)."""
    post = posts[0]
    shaped = shape(post.text, profile, SETTINGS, max_words=80)
    body, _, tags = split_closing(shaped.text)
    assert 40 <= word_count(body) <= 80 and ends_sentence(body) and len(tags) == 3
    assert body in post.text  # her own sentences, cut, not rewritten
    asked = {c.name: c.passed for c in check_draft(shaped.text, profile, SETTINGS,
                                                   max_words=80)}
    usual = {c.name: c.passed for c in check_draft(shaped.text, profile, SETTINGS)}
    assert asked["length"] and asked["rhythm"] and not usual["length"]


def test_real_smollm2_drafts_come_out_as_posts(profile: ChannelProfile,
                                               documents: list[Document]):
    """Twelve real drafts of the bundled base model (tests/fixtures/drafts, generated once
    through the serving prompt): most end mid-sentence as generated and one invents a link;
    after shaping every one ends in a full sentence with no URL outside its sources, each passes
    more checks than it did, and the chosen one passes the most."""
    fixture = json.loads((Path(__file__).parent / "fixtures" / "drafts" / "smollm2_135m.json")
                         .read_text(encoding="utf-8"))
    by_url = {d.url: d for d in documents}
    raw_endings = raw_invented = 0
    for item in fixture["requests"]:
        sources = [by_url[u] for u in item["source_urls"]]
        grounding = Grounding.of(item["request"], [d.text[:item["source_chars"]] for d in sources],
                                 [d.url for d in sources])
        drafts = item["drafts"]
        raw_endings += sum(ends_sentence(split_closing(d)[0]) for d in drafts)
        raw_invented += sum(bool(grounding.missing(d, 10).urls) for d in drafts)
        result = finish(drafts, profile, SETTINGS, grounding)
        for draft, candidate in zip(drafts, result.choice.candidates, strict=True):
            assert ends_sentence(split_closing(candidate.text)[0]), candidate.text[-80:]
            assert not grounding.missing(candidate.text, 10).urls
            assert heading_lines(candidate.text) == 0 and "](" not in candidate.text
            before = sum(c.passed for c in check_draft(draft, profile, SETTINGS, grounding))
            assert candidate.passed >= before
        assert result.choice.best.passed == max(c.passed for c in result.choice.candidates)
        assert result.choice.best.passed >= len(result.checks) - 2
    assert raw_endings <= 6 and raw_invented >= 1  # what shaping had to fix


def test_the_verdict_line_names_the_score_the_failed_checks_and_the_drafts() -> None:
    from twin.report import draft_verdict

    answer = {"post": "…", "voice": {"score": 0.957, "evidence": []},
              "checks": [{"name": "complete ending", "passed": True, "reason": ""},
                         {"name": "grounding", "passed": False, "reason": "2017"}],
              "candidates": [{}, {}, {}]}
    assert draft_verdict(answer, "her") == (
        "sounds like her: 0.96; checks passed 1/2 (not: grounding); best of 3 drafts")
    assert draft_verdict({"post": "", "voice": None, "checks": []}) == (
        "sounds like you: no voice model; checks passed 0/0; one draft")
