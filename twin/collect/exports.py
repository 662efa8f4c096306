"""Importers for the data-export archives people can download from the platforms.

- LinkedIn ("Get a copy of your data"): ``Shares.csv`` (posts) and ``Articles/Articles/*.html``.
- Medium ("Download your information"): ``posts/*.html`` (drafts, ``draft_*``, are skipped).
- Substack (Settings > Export): ``posts.csv`` and ``posts/<post_id>.html`` body fragments.

The platform is recognised from the archive's content, or given as ``linkedin=export.zip``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import SplitResult

from parsel import Selector

from twin.collect.base import CollectError, Collector
from twin.collect.html import html_to_markdown, parse_date, text_to_markdown
from twin.collect.linkedin import post_title
from twin.domain import (
    Document,
    Kind,
    Platform,
    Source,
    SourceResult,
    content_hash,
    is_http_url,
)
from twin.settings import Settings

MAX_MEMBER_BYTES = 50_000_000  # one post or CSV; a bigger member is not someone's writing
RATIO_FLOOR = 1_000_000  # smaller entries may compress as well as they like
LOCAL_HEADER = 30  # bytes of a ZIP local file header before its name


def _read_text(archive: zipfile.ZipFile, name: str) -> str:
    if archive.getinfo(name).file_size > MAX_MEMBER_BYTES:
        raise CollectError(f"larger than {MAX_MEMBER_BYTES} bytes once unpacked")
    data = archive.read(name)
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")  # pragma: no cover - latin-1 never fails


def check_archive_bounds(infos: list[zipfile.ZipInfo], settings: Settings, label: str) -> None:
    """Refuse an archive from its central directory alone, before any entry is inflated:
    too many entries, too many bytes declared, an entry compressed like a ZIP bomb, or
    entries sharing their data (one member listed many times)."""
    c = settings.collect
    if len(infos) > c.max_export_entries:
        raise CollectError(f"export archive {label} has {len(infos)} entries, more than "
                           f"collect.max_export_entries ({c.max_export_entries})")
    declared = sum(i.file_size for i in infos)
    limit = min(c.max_export_uncompressed_bytes, c.max_export_bytes)
    if declared > limit:
        raise CollectError(f"export archive {label} declares {declared} bytes once unpacked, "
                           f"more than collect.max_export_uncompressed_bytes ({limit})")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_FLOOR and ratio > c.max_export_ratio:
            raise CollectError(
                f"export archive {label}: {info.filename} unpacks to {ratio:.0f} times its "
                f"packed size, more than collect.max_export_ratio ({c.max_export_ratio:g}); "
                "refused as a ZIP bomb")
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.header_offset < before.header_offset + LOCAL_HEADER + before.compress_size:
            raise CollectError(f"export archive {label} has overlapping entries "
                               f"({before.filename} and {after.filename} share their data); "
                               "refused as a ZIP bomb")


def _guarded(result: SourceResult, name: str, read: Callable[[], None]) -> None:
    """Import one entry (or row); its failure is one line of the summary, the rest go on."""
    try:
        read()
    except CollectError as exc:
        result.errors.append(f"{name}: {exc}")
    except RecursionError:
        result.errors.append(f"{name}: nested too deeply to read")
    except Exception as exc:  # a corrupt member, an odd encoding: this entry only
        result.errors.append(f"{name}: could not be read ({type(exc).__name__}: "
                             f"{str(exc)[:200]})")


def _rows(reader: Any, name: str, limit: int, result: SourceResult) -> Iterator[tuple[int, Any]]:
    """The CSV's rows, numbered from 2 (its header is row 1), at most ``limit`` of them."""
    number = 1
    try:
        for number, row in enumerate(reader, start=2):
            if number - 1 > limit:  # first: the line the summary shows
                result.errors.insert(0, f"{name}: stopped after {limit} rows "
                                     "(collect.max_csv_rows); the rest was skipped")
                return
            yield number, row
    except csv.Error as exc:
        result.errors.append(f"{name} row {number + 1}: {exc}; the rest was skipped")


def _http_or_none(url: str | None) -> str | None:
    url = (url or "").strip()
    return url if is_http_url(url) else None


def _names(archive: zipfile.ZipFile) -> list[str]:
    # A name listed twice is read once (zipfile would read its last entry each time).
    return list(dict.fromkeys(i.filename for i in archive.infolist() if not i.is_dir()))


def detect_platform(archive: zipfile.ZipFile) -> Platform | None:
    """Which platform an export archive comes from, by the files it holds."""
    names = [PurePosixPath(n) for n in _names(archive)]
    if any(n.name.lower().startswith("shares") and n.suffix == ".csv" for n in names) or any(
            "Articles" in n.parts[:-1] and n.suffix == ".html" for n in names):
        return Platform.LINKEDIN
    if any(n.name == "posts.csv" for n in names):
        return Platform.SUBSTACK
    if any(n.parent.name == "posts" and n.suffix == ".html" for n in names):
        return Platform.MEDIUM
    return None


class ExportCollector(Collector):
    """Imports a platform's export ZIP (the driver reads it and passes the bytes)."""

    name = "export"
    platform = Platform.WEB
    priority = 0

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        return False  # exports are chosen by source kind, never by link

    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        if payload is None:
            raise CollectError(f"export archive not found: {source.value}")
        try:
            archive = zipfile.ZipFile(io.BytesIO(payload))
            infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
            raise CollectError(f"not a valid ZIP archive: {source.value} ({exc})") from exc
        # Each entry's CRC is checked as it is read: a corrupt entry costs itself only.
        check_archive_bounds(infos, self.settings, source.value)
        platform = source.platform_hint or detect_platform(archive)
        if platform is None:
            raise CollectError(
                f"unrecognised export archive {source.value}: expected a LinkedIn (Shares.csv, "
                "Articles/), Medium (posts/*.html) or Substack (posts.csv) export")
        importer = IMPORTERS.get(platform)
        if importer is None:
            raise CollectError(f"no importer for {platform.value} exports")
        result = SourceResult(source=source)
        importer(self, archive, author_id, result)
        if not result.documents and not result.errors:
            raise CollectError(f"the {platform.value} export {source.value} holds no published "
                               "posts or articles")
        return result

    # LinkedIn -----------------------------------------------------------------------------
    def import_linkedin(self, archive: zipfile.ZipFile, author_id: str,
                        result: SourceResult) -> None:
        """Shares.csv rows (posts) and Articles/*.html (Pulse articles)."""
        for name in _names(archive):
            path = PurePosixPath(name)
            if path.name.lower().startswith("shares") and path.suffix == ".csv":
                _guarded(result, name, lambda name=name: self._linkedin_shares(
                    _read_text(archive, name), name, author_id, result))
            elif "Articles" in path.parts[:-1] and path.suffix == ".html":
                _guarded(result, name, lambda name=name: self._linkedin_article(
                    _read_text(archive, name), name, author_id, result))

    def _linkedin_shares(self, content: str, name: str, author_id: str,
                         result: SourceResult) -> None:
        lines = content.splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if "ShareCommentary" in line), None)
        if start is None:
            result.errors.append(f"{name}: no ShareCommentary column")
            return
        reader = csv.DictReader(io.StringIO("".join(lines[start:])))
        for row_number, row in _rows(reader, name, self.settings.collect.max_csv_rows, result):
            _guarded(result, f"{name} row {row_number}",
                     lambda row=row, n=row_number: self._linkedin_share(
                         row, f"{name} row {n}", author_id, result))

    def _linkedin_share(self, row: dict[str, Any], where: str, author_id: str,
                        result: SourceResult) -> None:
        text = _linkedin_commentary(row.get("ShareCommentary") or "")
        if not text:
            return  # a plain reshare: nothing the author wrote
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"{where}: post too short to keep")
            return
        result.documents.append(Document.build(
            author_id=author_id, platform=Platform.LINKEDIN, kind=Kind.POST,
            url=(row.get("ShareLink") or "").strip(),
            item_id=f"share-{content_hash('', text)[:16]}",  # when there is no usable link
            title=post_title(text), text=text,
            published_at=parse_date(row.get("Date")),
            metadata={"visibility": row.get("Visibility"),
                      "shared_url": _http_or_none(row.get("SharedUrl")),
                      "title_from": "first_line", "source": "export"},
        ))

    def _linkedin_article(self, html: str, name: str, author_id: str,
                          result: SourceResult) -> None:
        sel = Selector(text=html)
        title = (sel.css("h1").xpath("string()").get() or "").strip()
        link = sel.css("h1 a::attr(href)").get()
        published = sel.css("p.published").xpath("string()").get()
        if not published:
            return  # an unpublished draft
        for node in sel.css("h1, p.created, p.published"):
            node.drop()
        body = sel.css("body").get() or sel.get()
        text = html_to_markdown(body, self.settings.collect.max_html_depth)
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"{name}: article has no text")
            return
        result.documents.append(Document.build(
            author_id=author_id, platform=Platform.LINKEDIN, kind=Kind.ARTICLE,
            url=link or "", item_id=name, title=title, text=text,
            published_at=parse_date(published.replace("Published on", "").strip()),
            metadata={"source": "export", "file": name},
        ))

    # Medium -------------------------------------------------------------------------------
    def import_medium(self, archive: zipfile.ZipFile, author_id: str,
                      result: SourceResult) -> None:
        """posts/*.html stories; drafts are skipped."""
        for name in _names(archive):
            path = PurePosixPath(name)
            if path.parent.name != "posts" or path.suffix != ".html":
                continue
            if path.name.startswith("draft_"):
                continue
            _guarded(result, name, lambda name=name: self._medium_story(
                _read_text(archive, name), name, author_id, result))

    def _medium_story(self, html: str, name: str, author_id: str,
                      result: SourceResult) -> None:
        sel = Selector(text=html)
        title = (sel.css("h1.p-name").xpath("string()").get() or "").strip()
        subtitle = (sel.css('section[data-field="subtitle"]').xpath("string()").get()
                    or "").strip()
        published = sel.css("time.dt-published::attr(datetime)").get()
        canonical = sel.css("a.p-canonical::attr(href)").get()
        if not published:
            return  # unpublished
        body = sel.css('section[data-field="body"]')
        for node in body.css("h3.graf--title, h4.graf--subtitle"):
            node.drop()
        text = html_to_markdown(body.get() or "", self.settings.collect.max_html_depth)
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"{name}: story has no text")
            return
        result.documents.append(Document.build(
            author_id=author_id, platform=Platform.MEDIUM, kind=Kind.ARTICLE,
            url=canonical or "", item_id=PurePosixPath(name).stem,
            title=title, text=text, published_at=parse_date(published),
            metadata={"subtitle": subtitle or None, "source": "export", "file": name},
        ))

    # Substack -----------------------------------------------------------------------------
    def import_substack(self, archive: zipfile.ZipFile, author_id: str,
                        result: SourceResult) -> None:
        """posts.csv rows that are published newsletters, with their posts/<id>.html bodies."""
        names = _names(archive)
        csv_name = next((n for n in names if PurePosixPath(n).name == "posts.csv"), None)
        if csv_name is None:
            raise CollectError("no posts.csv in the archive: not a Substack export")
        folder = str(PurePosixPath(csv_name).parent)
        prefix = "" if folder == "." else folder + "/"
        reader = csv.DictReader(io.StringIO(_read_text(archive, csv_name)))
        try:
            fields = reader.fieldnames
        except csv.Error as exc:
            raise CollectError(f"{csv_name} is not a readable CSV file ({exc})") from exc
        if not fields or "post_id" not in fields:
            raise CollectError(f"{csv_name} has no post_id column: not a Substack export")
        available = set(names)
        for _number, row in _rows(reader, csv_name, self.settings.collect.max_csv_rows, result):
            post_id = (row.get("post_id") or "").strip()
            _guarded(result, f"post {post_id}", lambda row=row, post_id=post_id:
                     self._substack_post(archive, row, post_id, prefix, available, author_id,
                                         result))

    def _substack_post(self, archive: zipfile.ZipFile, row: dict[str, Any], post_id: str,
                       prefix: str, available: set[str], author_id: str,
                       result: SourceResult) -> None:
        if (row.get("is_published") or "").strip().lower() != "true":
            return
        if (row.get("type") or "newsletter").strip() not in {"newsletter", ""}:
            return
        html_name = f"{prefix}posts/{post_id}.html"
        if html_name not in available:
            result.errors.append(f"post {post_id}: {html_name} missing from the archive")
            return
        text = html_to_markdown(_read_text(archive, html_name),
                                self.settings.collect.max_html_depth)
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"post {post_id}: no text")
            return
        slug = post_id.split(".", 1)[1] if "." in post_id else post_id
        result.documents.append(Document.build(
            author_id=author_id, platform=Platform.SUBSTACK, kind=Kind.ARTICLE,
            item_id=post_id, title=(row.get("title") or "").strip(), text=text,
            published_at=parse_date(row.get("post_date")),
            metadata={"subtitle": (row.get("subtitle") or "").strip() or None,
                      "slug": slug, "audience": row.get("audience"), "source": "export"},
        ))


def _linkedin_commentary(raw: str) -> str:
    """Undo LinkedIn's CSV quirks (lines wrapped in quotes, doubled quotes)."""
    text = raw.replace("\r\n", "\n")
    lines = text.split("\n")
    if len(lines) > 1 and all(_QUOTED_LINE.fullmatch(line) for line in lines if line):
        text = "\n".join(line.strip('"') for line in lines)
    return text_to_markdown(text.replace('""', '"'))


_QUOTED_LINE = re.compile(r'"[^\n]*"|""|"[^\n]*|[^\n]*"')


IMPORTERS: dict[Platform, Callable[[ExportCollector, zipfile.ZipFile, str, SourceResult], Any]] = {
    Platform.LINKEDIN: ExportCollector.import_linkedin,
    Platform.MEDIUM: ExportCollector.import_medium,
    Platform.SUBSTACK: ExportCollector.import_substack,
}
