"""The markdown and web-address patterns every stage shares, on strings taken from real pages
and real model drafts (a Wikipedia address with parentheses, an issue number in prose, a link
an HTML converter wrapped around two lines, a badge inside a link)."""

from __future__ import annotations

from twin import markup


def test_urls_keep_their_own_parentheses_and_drop_the_sentences_punctuation() -> None:
    text = ("Cassini dropped a probe (see https://en.wikipedia.org/wiki/Huygens_(spacecraft)). "
            "More at www.esa.int/Science_Exploration, or write to mailto:press@esa.int!")
    assert markup.urls_in(text) == [
        "https://en.wikipedia.org/wiki/Huygens_(spacecraft)",
        "www.esa.int/Science_Exploration",
        "mailto:press@esa.int",
    ]
    assert markup.trim_url("https://example.com/a.") == "https://example.com/a"
    assert markup.trim_url("https://en.wikipedia.org/wiki/Contract_(law)") == (
        "https://en.wikipedia.org/wiki/Contract_(law)")
    assert markup.without_scheme("https://brianbuccola.com/atom.xml") == "brianbuccola.com/atom.xml"
    assert markup.without_scheme("www.esa.int") == "www.esa.int"


def test_issue_and_page_numbers_are_not_hashtags_but_tags_are() -> None:
    text = ("Fixed in Issue #9, see Page #1 and C# notes at https://x.org/#top &#39; "
            "#DataContracts #data_quality ##not")
    assert markup.HASHTAG.findall(text) == ["DataContracts", "data_quality"]


def test_links_and_images_including_multi_line_texts_and_badges() -> None:
    text = ("[The 3 a.m. Parquet\nSchema Drift Incident](https://medium.com/@maya/3am "
            "\"title\") and [![build](https://img.shields.io/badge/ci-passing.svg)]"
            "(https://github.com/maya-okafor/oncall-cookbook) and "
            "![diagram](<https://cdn.example.com/a b.png>) and "
            "[Huygens](https://en.wikipedia.org/wiki/Huygens_(spacecraft))")
    matches = list(markup.MARKDOWN_LINK.finditer(text))
    assert [markup.link_target(m) for m in matches] == [
        "https://medium.com/@maya/3am",
        "https://github.com/maya-okafor/oncall-cookbook",
        "https://cdn.example.com/a b.png",
        "https://en.wikipedia.org/wiki/Huygens_(spacecraft)",
    ]
    assert matches[0].group("text") == "The 3 a.m. Parquet\nSchema Drift Incident"
    assert [bool(m.group("image")) for m in matches] == [False, False, True, False]
    assert markup.IMAGE_FILE.search(markup.link_target(matches[2]))
    assert markup.link_text(text) == (
        "The 3 a.m. Parquet\nSchema Drift Incident and  and  and Huygens")
    assert markup.link_text(text, alt=True) == (
        "The 3 a.m. Parquet\nSchema Drift Incident and build and diagram and Huygens")


def test_reference_links_definitions_citations_and_autolinks() -> None:
    text = ("As [the RFC][rfc] says[3], as noted[^2], see <https://www.rfc-editor.org/rfc/rfc9110> "
            "and <dc:creator>.\n\n[rfc]: <https://www.rfc-editor.org/rfc/rfc9110> \"HTTP\"")
    assert markup.REFERENCE_LINK.findall(text) == ["the RFC"]
    assert markup.REFERENCE_DEFINITION.findall(text) == ["https://www.rfc-editor.org/rfc/rfc9110"]
    assert markup.CITATION.findall(text) == ["[3]", "[^2]"]
    # The definition's angle-bracketed target reads as an autolink too: two.
    assert markup.WEB_AUTOLINK.findall(text) == ["https://www.rfc-editor.org/rfc/rfc9110"] * 2
    # Any scheme's autolink matches (callers look at the scheme), so <dc:creator> does too.
    assert "dc:creator" in markup.AUTOLINK.findall(text)


def test_headings_are_headings_and_hashtags_are_not() -> None:
    text = "## What we changed ##\n#DataContracts\n   # One\nPlain line"
    assert markup.HEADING.findall(text) == ["What we changed", "One"]
    assert markup.HEADING_MARK.match("## What we changed")
    assert not markup.HEADING_MARK.match("#DataContracts")


def test_code_blocks_closed_unclosed_and_tilde_fenced() -> None:
    doc = "Intro.\n```python\nprint('x')\n```\nMiddle ~~~ divider.\n~~~\nraw\n~~~\nEnd."
    pieces = markup.split_code(doc)
    assert "".join(p for p, _ in pieces) == doc
    assert [code for _, code in pieces] == [False, True, False, True, False]
    assert pieces[1][0] == "```python\nprint('x')\n```"
    # A lone fence in a collected page is prose; a draft that stops inside a block is code.
    assert markup.split_code("A page\n```\nthat never closes") == [
        ("A page\n```\nthat never closes", False)]
    draft = "Here is how:\n```sql\nSELECT *"
    assert markup.CODE_BLOCK.search(draft).group(0) == "```sql\nSELECT *"
    assert markup.FENCE.match("~~~ yaml")
