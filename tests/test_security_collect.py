"""Attacks on collection, kept as tests: the address policy in every spelling, malformed links,
a GitHub token that must stay with its host, a crawl whose parent is killed."""

from __future__ import annotations

import pytest

from tests.helpers import collect_one
from twin.net import UnsafeURLError, check_url
from twin.settings import Settings


@pytest.mark.parametrize("url", [
    "http://[::127.0.0.1]/",             # IPv4-compatible
    "http://[::ffff:127.0.0.1]/",        # IPv4-mapped
    "http://[::ffff:7f00:1]/",           # IPv4-mapped, hex
    "http://[::ffff:0:7f00:1]/",         # IPv4-translated (SIIT)
    "http://[::ffff:169.254.169.254]/",  # the metadata address, mapped
    "http://[::10.0.0.1]/",              # IPv4-compatible, private
    "http://[64:ff9b::7f00:1]/",         # NAT64 well-known prefix
    "http://[64:ff9b::a9fe:a9fe]/",      # NAT64 of 169.254.169.254
    "http://[64:ff9b:1::808:808]/",      # local-use NAT64 (RFC 8215)
    "http://[2002:7f00:1::]/",           # 6to4 of 127.0.0.1
    "http://[2002:c0a8:1::1]/",          # 6to4 of 192.168.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://192.0.0.192/",               # IETF protocol assignments
    "http://192.0.0.9/",
    "http://[fe80::1%25eth0]/",          # link-local with a zone
    "http://[fc00::1]/", "http://100.64.0.1/", "http://198.18.0.1/", "http://240.0.0.1/",
])
def test_every_spelling_of_a_non_public_address_is_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="non-public address"):
        check_url(url)


@pytest.mark.parametrize("url", [
    "http://[::ffff:8.8.8.8]/", "http://[64:ff9b::808:808]/", "http://[2002:808:808::]/",
    "http://[2606:4700:4700::1111]/", "https://93.184.216.34/",
])
def test_public_addresses_in_any_spelling_pass(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "problem"), [
    ("http://a..b/", "malformed host name"),
    ("http://[::1/", "malformed link"),
    (f"http://{'x' * 64}.example.com/", "malformed host name"),
    ("http://[::1::2]/", "malformed"),
    ("https://example.com:99999/post", "invalid port"),
])
def test_malformed_links_are_a_clear_url_error(url: str, problem: str) -> None:
    with pytest.raises(UnsafeURLError, match=problem) as caught:
        check_url(url)
    assert url in str(caught.value)


@pytest.mark.parametrize("url", ["http://a..b/", "http://[::1/",
                                 f"http://{'x' * 64}.example.com/"])
def test_a_malformed_link_is_one_failed_source_naming_it(url: str, tmp_path) -> None:
    result = collect_one(url, Settings(home=tmp_path))
    assert result.failure and url in result.failure and "malformed" in result.failure
    assert "\n" not in result.failure


def test_a_malformed_link_in_a_request_is_one_link_error(tmp_path) -> None:
    from twin.rag.links import fetch_links

    material = fetch_links(["http://a..b/", "http://[::1/"], "maya-okafor",
                           Settings(home=tmp_path))
    assert set(material.errors) == {"http://a..b/", "http://[::1/"}
    assert all("malformed" in e for e in material.errors.values())
