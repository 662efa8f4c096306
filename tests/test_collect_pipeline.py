"""The collection stage on a local Ray: every demo source, re-runs, edits, bad input."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from tests.helpers import source_words, words
from twin.collect.pipeline import collect
from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.settings import Settings
from twin.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("local_ray")


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, demo_site: DemoSite) -> Settings:
    from twin.settings import deep_merge

    return Settings(home=tmp_path_factory.mktemp("pipeline") / "home",
                    **deep_merge(demo_site.settings_overrides(),
                                 {"collect": {"retry_backoff_s": 0.05}}))


@pytest.fixture(scope="module")
def first_run(demo_site: DemoSite, module_settings: Settings):
    return collect(AUTHOR_NAME, demo_site.links(), [str(p) for p in demo_site.exports()],
                   module_settings, show_progress=False)


def test_collects_every_demo_source(first_run, demo_site: DemoSite,
                                    module_settings: Settings) -> None:
    totals = first_run.totals
    assert totals["found"] == totals["new"] == demo_site.expected_documents() == 34
    assert totals["failed"] == 0 and first_run.table_version == 0
    assert all(s.found > 0 and s.reason is None for s in first_run.sources)
    store = Warehouse.from_settings(module_settings)
    ids = store.read_table().column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 34
    assert store.runs()[0]["run_id"] == first_run.run_id


def test_every_stored_document_is_the_authors_own_text(first_run, demo_site: DemoSite,
                                                       module_settings: Settings) -> None:
    """Test the data: each bundled piece is stored once, word for word."""
    docs = Warehouse.from_settings(module_settings).documents(author_id="maya-okafor")
    prose = [d for d in docs if d.platform.value != "github"]
    assert len(prose) == len(demo_site.pieces)
    for piece in demo_site.pieces:
        matches = [d for d in prose if words(d.text) == source_words(piece.body)]
        assert len(matches) == 1, f"{piece.platform}/{piece.slug} stored {len(matches)} times"
        assert matches[0].published_at == piece.date
        doc = matches[0]
        # A Substack export names no author (it is the holder's); every other piece says who.
        if not (doc.platform.value == "substack" and doc.metadata.get("source") == "export"):
            assert doc.metadata["author"] == AUTHOR_NAME, (doc.url, doc.metadata)
            assert doc.metadata["provenance"]["author"], doc.url
    repos = [d for d in docs if d.platform.value == "github"]
    for repo in repos:
        name = repo.title.split("/")[1]
        bundled = Path(__file__).resolve().parents[1] / "twin/demo/data/github" / name
        readme_words = words((bundled / "README.md").read_text())
        assert " ".join(readme_words) in " ".join(words(repo.text))


def test_the_summary_lists_what_each_stored_document_lacks(first_run,
                                                         module_settings: Settings) -> None:
    """Every stored document without an author or date is in the run's summary (and stored
    with the run); repositories (their owner's) and exports (their holder's) never lack an
    author."""
    from twin.domain import MissingMetadata

    docs = Warehouse.from_settings(module_settings).documents(author_id="maya-okafor")
    expected = {(d.url, tuple(m.fields)) for d in docs
                if (m := MissingMetadata.of(d, from_export=d.metadata.get("source") == "export"))}
    listed = [m for s in first_run.sources for m in s.missing]
    assert all(s.missing_omitted == 0 for s in first_run.sources)  # the demo fits the list
    assert {(m.url, tuple(m.fields)) for m in listed} == expected
    assert sum(s.no_date for s in first_run.sources) == sum(d.published_at is None for d in docs)
    assert sum(s.no_author for s in first_run.sources) == sum("author" in f for _, f in expected)
    assert not any("author" in m.fields for m in listed if m.platform == "github")
    exports = [s for s in first_run.sources if s.collector == "export"]
    assert exports and all(s.no_author == 0 for s in exports)
    stored = Warehouse.from_settings(module_settings).runs()[0]["summary"]
    assert [m.model_dump(mode="json") for m in listed] == [
        m for s in stored["sources"] for m in s["missing"]]


def test_ray_data_reads_the_warehouse(first_run, module_settings: Settings) -> None:
    import ray

    dataset = ray.data.read_delta(Warehouse.from_settings(module_settings).documents_uri)
    assert dataset.count() == 34
    assert {"id", "author_id", "platform", "text", "content_hash"} <= set(
        dataset.schema().names)


def test_second_run_adds_nothing(first_run, demo_site: DemoSite,
                                 module_settings: Settings) -> None:
    again = collect(AUTHOR_NAME, demo_site.links(), [str(p) for p in demo_site.exports()],
                    module_settings, show_progress=False)
    assert again.totals["new"] == 0 and again.totals["updated"] == 0
    assert again.totals["unchanged"] == 34
    assert again.table_version == first_run.table_version
    assert Warehouse.from_settings(module_settings).read_table().num_rows == 34


def test_an_edited_page_replaces_its_old_version(first_run, demo_site: DemoSite,
                                                 module_settings: Settings) -> None:
    piece = demo_site._pieces("blog")[0]
    demo_site.edit("blog", piece.slug, piece.body + "\n\nUpdate: we shipped the fix in 2026.")
    try:
        run = collect(AUTHOR_NAME, [f"{demo_site.url('blog')}/"], [], module_settings,
                      show_progress=False)
    finally:
        demo_site.overrides.clear()
    assert (run.totals["new"], run.totals["updated"], run.totals["unchanged"]) == (0, 1, 3)
    store = Warehouse.from_settings(module_settings)
    assert run.table_version == (first_run.table_version or 0) + 1
    stored = [d for d in store.documents(platform="web") if d.title == piece.title]
    assert len(stored) == 1 and stored[0].text.endswith("we shipped the fix in 2026.")
    assert store.read_table().num_rows == 34


def test_bad_sources_are_reported_and_skipped(first_run, demo_site: DemoSite,
                                              module_settings: Settings,
                                              tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"definitely not a zip")
    before = Warehouse.from_settings(module_settings).read_table().num_rows
    run = collect(
        AUTHOR_NAME,
        ["not-a-link", f"{demo_site.url('blog')}/no-such-post/",
         f"{demo_site.url('blog')}/posts/coming-soon/",
         f"{demo_site.url('github')}/maya-okafor/private-x",
         "http://169.254.169.254/latest/", f"{demo_site.url('medium')}/@maya-okafor"],
        [str(corrupt), str(tmp_path / "missing.zip")],
        module_settings, show_progress=False)
    reasons = {s.source: s.reason for s in run.sources}
    assert reasons["not-a-link"].startswith("not a valid http(s) link")
    assert "HTTP 404" in reasons[f"{demo_site.url('blog')}/no-such-post/"]
    assert "no article text" in reasons[f"{demo_site.url('blog')}/posts/coming-soon/"]
    assert "not found or private" in reasons[f"{demo_site.url('github')}/maya-okafor/private-x"]
    assert "non-public address" in reasons["http://169.254.169.254/latest/"]
    assert "not a valid ZIP" in reasons[str(corrupt)]
    assert "not found" in reasons[str(tmp_path / "missing.zip")]
    for reason in reasons.values():
        assert reason is None or ("Traceback" not in reason and "\n" not in reason)
    medium = next(s for s in run.sources if s.collector == "medium")
    assert medium.found == 4 and medium.failed == 0  # the good source still ran
    assert sum(s.failed for s in run.sources) == 7
    assert Warehouse.from_settings(module_settings).read_table().num_rows == before


def test_no_sources_is_a_clear_error(module_settings: Settings) -> None:
    with pytest.raises(ValueError, match="nothing to collect"):
        collect(AUTHOR_NAME, [], [], module_settings)
    with pytest.raises(ValueError, match="no letters or digits"):
        collect("!!!", ["https://example.org"], [], module_settings)


def test_summary_reasons_are_single_lines(first_run) -> None:
    assert all(re.fullmatch(r"[^\n]*", s.source) for s in first_run.sources)


def _busy_collect_workers() -> list[int]:
    """Pids of Ray workers running a collection task right now (by their process title),
    that have started their crawl subprocess."""
    import psutil

    busy = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("ray::collect:"):
            with contextlib.suppress(psutil.Error):
                if any("twin.collect.crawl" in " ".join(c.cmdline())
                       for c in proc.children(recursive=True)):
                    busy.append(proc.info["pid"])
    return busy


@pytest.mark.slow
def test_a_worker_killed_mid_collection_loses_and_duplicates_nothing(
        demo_site: DemoSite, tmp_path: Path) -> None:
    """SIGKILL a Ray worker in the middle of its crawl: Ray retries the task, the run still
    stores every document once, and the next run finds everything unchanged."""
    import os
    import signal
    import threading
    import time

    from twin.settings import deep_merge

    settings = Settings(home=tmp_path / "home", **deep_merge(
        demo_site.settings_overrides(), {"collect": {"retry_backoff_s": 0.05,
                                                     "http_cache": False,
                                                     "download_delay_s": 0.3}}))
    result: dict = {}
    links, exports = demo_site.links(), [str(p) for p in demo_site.exports()]
    runner = threading.Thread(target=lambda: result.update(summary=collect(
        AUTHOR_NAME, links, exports, settings, show_progress=False)))
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        busy = _busy_collect_workers()
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    runner.join(timeout=600)
    assert killed is not None, "no collection task was caught mid-crawl"
    totals = result["summary"].totals
    assert totals["found"] == totals["new"] == 34 and totals["failed"] == 0
    ids = Warehouse.from_settings(settings).read_table().column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 34
    again = collect(AUTHOR_NAME, links, exports, settings, show_progress=False).totals
    assert again["unchanged"] == 34 and again["new"] == again["updated"] == 0
