"""The dispatcher maps real URL shapes to collectors."""

from __future__ import annotations

import pytest

from twin.collect.base import CollectError
from twin.collect.dispatcher import collector_class_for
from twin.collect.medium import feed_url_for, medium_id
from twin.domain import Source, SourceKind
from twin.settings import Settings


@pytest.mark.parametrize(("link", "collector"), [
    ("https://medium.com/@maya", "medium"),
    ("https://medium.com/@maya/the-3am-incident-db1c0d6a1d42", "medium"),
    ("https://maya.medium.com/the-3am-incident-db1c0d6a1d42", "medium"),
    ("https://medium.com/towards-data-science/some-story-95a6b38004f", "medium"),
    ("https://medium.com/feed/@maya", "medium"),
    ("https://miseendata.substack.com", "substack"),
    ("https://miseendata.substack.com/p/stock-and-sauce", "substack"),
    ("https://www.linkedin.com/posts/maya_null-activity-7215012345678901234-AbCd", "linkedin"),
    ("https://www.linkedin.com/pulse/what-senior-means-maya-okafor", "linkedin"),
    ("https://github.com/maya-okafor", "github"),
    ("https://github.com/maya-okafor/parquet-drift", "github"),
    ("https://okafor.dev/posts/cast-iron-pipelines/", "web"),
    ("substack=https://newsletter.example.org", "substack"),
    ("medium=https://engineering.example.com/a-story-0123456789ab", "medium"),
])
def test_links_go_to_their_platform(link: str, collector: str) -> None:
    source = Source.parse(link, SourceKind.LINK)
    assert collector_class_for(source, Settings()).name == collector


def test_custom_domains_from_settings() -> None:
    settings = Settings(platforms={"substack_domains": ["www.lennysnewsletter.com"],
                                   "medium_domains": ["netflixtechblog.com"]})
    substack = Source.parse("https://www.lennysnewsletter.com/p/x", SourceKind.LINK)
    medium = Source.parse("https://netflixtechblog.com/some-post-2615bd06b42e", SourceKind.LINK)
    assert collector_class_for(substack, settings).name == "substack"
    assert collector_class_for(medium, settings).name == "medium"


def test_exports_go_to_the_export_importer() -> None:
    source = Source.parse("/tmp/export.zip", SourceKind.EXPORT)
    assert collector_class_for(source, Settings()).name == "export"


@pytest.mark.parametrize("link", ["not a url", "ftp://example.org/x", "mailto:maya@okafor.dev",
                                  "https://", "medium.com/@maya"])
def test_malformed_links_are_refused_with_a_reason(link: str) -> None:
    with pytest.raises(CollectError, match="not a valid http"):
        collector_class_for(Source.parse(link, SourceKind.LINK), Settings())


def test_medium_feed_urls_and_ids() -> None:
    s = Settings()
    assert feed_url_for("https://medium.com/@maya", s) == "https://medium.com/feed/@maya"
    assert feed_url_for("https://medium.com/netflix-techblog", s) == \
        "https://medium.com/feed/netflix-techblog"
    assert feed_url_for("https://maya.medium.com/", s) == "https://maya.medium.com/feed"
    assert feed_url_for("https://medium.com/@maya/story-db1c0d6a1d42", s) is None
    assert medium_id("https://medium.com/@maya/story-db1c0d6a1d42") == "db1c0d6a1d42"
    assert medium_id("https://medium.com/p/95a6b38004f") == "95a6b38004f"


def test_link_platform_is_the_collectors_and_the_ui_uses_it() -> None:
    """One platform detection: the UI badges and checks a link with the dispatcher's answer,
    settings' platform addresses included (the demo's Medium on 127.0.0.1 is Medium), and the
    LinkedIn login rule is the collector's."""
    from twin.collect.dispatcher import link_platform
    from twin.collect.linkedin import needs_login
    from twin.domain import Platform
    from twin.ui.profile import check_link, platform_of

    settings = Settings(platforms={"medium_url": "http://127.0.0.1:18711",
                                   "linkedin_url": "http://127.0.0.1:18713"})
    assert link_platform("https://medium.com/@maya", settings) is Platform.MEDIUM
    assert link_platform("http://127.0.0.1:18711/@maya", settings) is Platform.MEDIUM
    assert link_platform("https://okafor.dev/posts/x/", settings) is Platform.WEB
    assert link_platform("ftp://okafor.dev/", settings) is None
    assert platform_of("http://127.0.0.1:18711/@maya", settings) == "medium"
    assert platform_of("https://okafor.dev/posts/x/", settings) == "blog"
    assert platform_of("https://maya.substack.com/", settings) == "substack"

    for profile in ("https://www.linkedin.com/in/maya-okafor", "http://127.0.0.1:18713/in/maya",
                    "https://www.linkedin.com/company/tinybird"):
        assert needs_login(profile, settings)
        assert "a LinkedIn profile needs a login" in (check_link(profile, settings) or "")
    post = "https://www.linkedin.com/posts/maya_null-activity-7215012345678901234-AbCd"
    assert not needs_login(post, settings) and check_link(post, settings) is None
    # /in/ on another site is that site's business.
    assert check_link("https://okafor.dev/in/maya", settings) is None
