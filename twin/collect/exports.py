"""Importers for the data-export archives people can download from the platforms.

- LinkedIn ("Get a copy of your data"): ``Shares.csv`` (posts), ``Articles/Articles/*.html``
  (Pulse articles) and ``Profile.csv`` (the author's name).
- Medium ("Download your information"): ``posts/*.html``; drafts (``draft_*``) and responses
  (comments on other stories, exported among the stories) are skipped.
- Substack (Settings > Export): ``posts.csv`` and ``posts/<post_id>.html`` body fragments, whose
  subscribe/share widgets are removed.

Every document records ``metadata["author"]`` and ``metadata["provenance"]`` (where its author,
date and title came from); a post without a date is kept with ``published_at=None``. The real
layouts these importers follow are described, with their sources, in
``tests/fixtures/exports/README.md``.

The platform is recognised from the archive's content, or given as ``linkedin=export.zip``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import SplitResult

from parsel import Selector, SelectorList

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
        tally = _Tally()
        importer(self, archive, author_id, result, tally)
        undated = sum(1 for d in result.documents if d.published_at is None)
        # First, so that the per-source cap on listed problems never hides them.
        result.errors[:0] = tally.lines(undated)
        if not result.documents and not result.errors:
            raise CollectError(f"the {platform.value} export {source.value} holds no published "
                               "posts or articles")
        return result

    def _document(self, result: SourceResult, *, author: str | None,
                  provenance: dict[str, str], text: str, **fields: Any) -> None:
        """Store one imported item with its author and where its fields came from."""
        metadata = dict(fields.pop("metadata", None) or {})
        metadata.update(author=author, bylines=[author] if author else [],
                        provenance=provenance, source="export")
        result.documents.append(Document.build(text=trim_dividers(text), metadata=metadata,
                                               **fields))

    # LinkedIn -----------------------------------------------------------------------------
    def import_linkedin(self, archive: zipfile.ZipFile, author_id: str,
                        result: SourceResult, tally: _Tally) -> None:
        """Shares.csv rows (posts) and Articles/*.html (Pulse articles), by Profile.csv's name."""
        names = _names(archive)
        author = _profile_name(archive, names, "profile.csv", _linkedin_profile_name, result)
        for name in names:
            path = PurePosixPath(name)
            if path.name.lower().startswith("shares") and path.suffix == ".csv":
                _guarded(result, name, lambda name=name: self._linkedin_shares(
                    _read_text(archive, name), name, author_id, author, result))
            elif "Articles" in path.parts[:-1] and path.suffix == ".html":
                _guarded(result, name, lambda name=name: self._linkedin_article(
                    _read_text(archive, name), name, author_id, author, result))

    def _linkedin_shares(self, content: str, name: str, author_id: str, author: str | None,
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
                         row, f"{name} row {n}", author_id, author, result))

    def _linkedin_share(self, row: dict[str, Any], where: str, author_id: str,
                        author: str | None, result: SourceResult) -> None:
        text = _linkedin_commentary(row.get("ShareCommentary") or "")
        if not text:
            return  # a plain reshare: nothing the author wrote
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"{where}: post too short to keep")
            return
        published = parse_date(row.get("Date"))
        self._document(
            result, author=author,
            provenance=_provenance(author, "export:Profile.csv", published, "export:Shares.csv",
                                   "first_line"),
            author_id=author_id, platform=Platform.LINKEDIN, kind=Kind.POST,
            url=(row.get("ShareLink") or "").strip(),
            item_id=f"share-{content_hash('', text)[:16]}",  # when there is no usable link
            title=post_title(text), text=text, published_at=published,
            metadata={"visibility": row.get("Visibility"),
                      "shared_url": _http_or_none(row.get("SharedUrl")),
                      "title_from": "first_line"},
        )

    def _linkedin_article(self, html: str, name: str, author_id: str, author: str | None,
                          result: SourceResult) -> None:
        sel = Selector(text=html)
        title = " ".join((sel.css("h1").xpath("string()").get() or "").split())
        link = sel.css("h1 a::attr(href)").get()
        published_text = sel.css("p.published").xpath("string()").get()
        if not published_text:
            return  # an unpublished draft: LinkedIn writes only "Created on"
        for node in sel.css("h1, p.created, p.published"):
            node.drop()
        body = sel.css("body").get() or sel.get()
        text = html_to_markdown(body, self.settings.collect.max_html_depth)
        if len(trim_dividers(text)) < self.settings.collect.min_text_chars:
            result.errors.append(f"{name}: article has no text")
            return
        published = parse_date(published_text.replace("Published on", "").strip())
        self._document(
            result, author=author,
            provenance=_provenance(author, "export:Profile.csv", published,
                                   "export:p.published", "export:h1" if title else None),
            author_id=author_id, platform=Platform.LINKEDIN, kind=Kind.ARTICLE,
            url=link or "", item_id=name, title=title, text=text, published_at=published,
            metadata={"file": name},
        )

    # Medium -------------------------------------------------------------------------------
    def import_medium(self, archive: zipfile.ZipFile, author_id: str,
                      result: SourceResult, tally: _Tally) -> None:
        """posts/*.html stories; drafts and responses are skipped."""
        names = _names(archive)
        profile_name = _profile_name(archive, names, "profile.html", _medium_profile_name,
                                     result)
        for name in names:
            path = PurePosixPath(name)
            if path.parent.name != "posts" or path.suffix != ".html":
                continue
            if path.name.startswith("draft_"):
                continue
            _guarded(result, name, lambda name=name: self._medium_story(
                _read_text(archive, name), name, author_id, profile_name, result, tally))

    def _medium_story(self, html: str, name: str, author_id: str, profile_name: str | None,
                      result: SourceResult, tally: _Tally) -> None:
        sel = Selector(text=html)
        title = " ".join((sel.css("h1.p-name").xpath("string()").get() or "").split())
        subtitle = " ".join((sel.css('section[data-field="subtitle"]').xpath("string()").get()
                             or "").split())
        body = sel.css('section[data-field="body"]')
        if _is_medium_response(title, subtitle, body):
            tally.responses += 1
            return
        published_at = sel.css("time.dt-published::attr(datetime)").get()
        canonical = sel.css("a.p-canonical::attr(href)").get()
        h_card = " ".join((sel.css("a.p-author.h-card").xpath("string()").get() or "").split())
        for node in body.css(".graf--title, .graf--subtitle"):
            node.drop()  # the title and subtitle again, as the story's first lines
        text = _without_title_line(
            trim_dividers(html_to_markdown(body.get() or "", self.settings.collect.max_html_depth)),
            title)
        if len(text) < self.settings.collect.min_text_chars:
            result.errors.append(f"{name}: story has no text")
            return
        published = parse_date(published_at)
        author = h_card or profile_name
        self._document(
            result, author=author,
            provenance=_provenance(author, "export:h-card" if h_card else "export:profile.html",
                                   published, "export:time.dt-published", "export:h1.p-name"),
            author_id=author_id, platform=Platform.MEDIUM, kind=Kind.ARTICLE,
            url=canonical or "", item_id=PurePosixPath(name).stem,
            title=title, text=text, published_at=published,
            metadata={"subtitle": subtitle or None, "file": name},
        )

    # Substack -----------------------------------------------------------------------------
    def import_substack(self, archive: zipfile.ZipFile, author_id: str,
                        result: SourceResult, tally: _Tally) -> None:
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
        publication = _substack_publication(names)
        for _number, row in _rows(reader, csv_name, self.settings.collect.max_csv_rows, result):
            post_id = (row.get("post_id") or "").strip()
            _guarded(result, f"post {post_id}", lambda row=row, post_id=post_id:
                     self._substack_post(archive, row, post_id, prefix, available, author_id,
                                         publication, result))

    def _substack_post(self, archive: zipfile.ZipFile, row: dict[str, Any], post_id: str,
                       prefix: str, available: set[str], author_id: str,
                       publication: str | None, result: SourceResult) -> None:
        if (row.get("is_published") or "").strip().lower() != "true":
            return
        if (row.get("type") or "newsletter").strip() not in {"newsletter", ""}:
            return
        html_name = f"{prefix}posts/{post_id}.html"
        if html_name not in available:
            result.errors.append(f"post {post_id}: {html_name} missing from the archive")
            return
        sel = Selector(text=_read_text(archive, html_name))
        # Substack's subscribe, share and comment widgets go in html_to_markdown (boilerplate).
        text = html_to_markdown(sel.css("body").get() or "", self.settings.collect.max_html_depth)
        if len(trim_dividers(text)) < self.settings.collect.min_text_chars:
            result.errors.append(f"post {post_id}: no text")
            return
        slug = post_id.split(".", 1)[1] if "." in post_id else post_id
        title = (row.get("title") or "").strip()
        published = parse_date(row.get("post_date"))
        # The export names no author (only its publication): the byline is unknown here.
        self._document(
            result, author=None,
            provenance=_provenance(None, "", published, "export:posts.csv",
                                   "export:posts.csv" if title else None),
            author_id=author_id, platform=Platform.SUBSTACK, kind=Kind.ARTICLE,
            item_id=post_id, title=title, text=text, published_at=published,
            metadata={"subtitle": (row.get("subtitle") or "").strip() or None,
                      "slug": slug, "audience": row.get("audience"),
                      "publication": publication},
        )


class _Tally:
    """What an import skipped or could not date, for one summary line each."""

    def __init__(self) -> None:
        self.responses = 0

    def lines(self, undated: int) -> list[str]:
        lines = []
        if self.responses:
            skipped = _count(self.responses, "Medium response (comment)",
                             "Medium responses (comments)")
            lines.append(f"skipped {skipped}")
        if undated:
            verb = "has" if undated == 1 else "have"
            lines.append(f"{_count(undated, 'post', 'posts')} {verb} no date (stored with date "
                         "unknown)")
        return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _provenance(author: str | None, author_from: str, published: datetime | None,
                published_from: str, title_from: str | None) -> dict[str, str]:
    """Where each known field came from (a field that is unknown has no entry)."""
    provenance = {}
    if author:
        provenance["author"] = author_from
    if published is not None:
        provenance["published_at"] = published_from
    if title_from:
        provenance["title"] = title_from
    return provenance


_DIVIDER_LINE = re.compile(r"(?:[-*_]\s*){3,}")


def trim_dividers(text: str) -> str:
    """The text without the section dividers (``---``, ``***``) it starts or ends with.

    Medium opens every story with a section divider (``<hr class="section-divider">``), and a
    Substack post often ends with one before its subscribe widget; they are layout, not writing.
    """
    lines = text.strip().split("\n")
    while lines and (not lines[0].strip() or _DIVIDER_LINE.fullmatch(lines[0].strip())):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _DIVIDER_LINE.fullmatch(lines[-1].strip())):
        lines.pop()
    return "\n".join(lines)


def _without_title_line(text: str, title: str) -> str:
    """The text without a first line that only repeats the title (a story whose title was
    typed as its bold first paragraph rather than as Medium's title paragraph)."""
    first, _, rest = text.partition("\n")
    if title and rest.strip() and _normalized(first.strip("#*_ \t")) == _normalized(title):
        return rest.strip()
    return text


def _linkedin_profile_name(content: str) -> str | None:
    """The member's name from Profile.csv (``First Name``, ``Last Name``, ...)."""
    for row in csv.DictReader(io.StringIO(content)):
        name = " ".join(" ".join((row.get(column) or "").split())
                        for column in ("First Name", "Last Name")).strip()
        return name or None
    return None


def _medium_profile_name(html: str) -> str | None:
    """The display name from Medium's profile/profile.html (``<b>Display name:</b> ...``)."""
    for item in Selector(text=html).css("li"):
        label = " ".join((item.css("b").xpath("string()").get() or "").split())
        if label.lower() == "display name:":
            text = " ".join((item.xpath("string()").get() or "").split())
            return text[len(label):].strip() or None
    return None


def _normalized(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).casefold()


_ELLIPSIS = re.compile(r"(?:…|\.\.\.)$")


def _is_medium_response(title: str, subtitle: str, body: SelectorList) -> bool:
    """Whether an exported Medium post is a response (a comment on another story).

    Medium's export writes responses into ``posts/`` like stories and marks them nowhere
    (medmark had to fetch each post online for ``inResponseToPostId``). What the files do show:
    a response has no title of its own, so the export's ``h1.p-name`` is missing or Medium's
    synthesized title (the opening words of the first paragraph, perhaps cut with "…"); its
    body has no title paragraph (``graf--title``) and the post no subtitle. A body opening with
    "In response to" is one too. A story whose first paragraph repeats its title (a poem, say)
    keeps its subtitle section, which is what keeps it here.
    """
    if not title:
        return True
    first = body.css(".graf--p, p").xpath("string()").get() or ""
    if _normalized(first).startswith("in response to"):
        return True
    if body.css(".graf--title") or subtitle:
        return False
    synthesized = _ELLIPSIS.sub("", _normalized(title)).rstrip(" .,;:!?—-")
    return bool(synthesized) and _normalized(first).startswith(synthesized)


def _substack_publication(names: list[str]) -> str | None:
    """The publication's subdomain, named by the export's ``email_list.<subdomain>.csv``."""
    for name in names:
        match = re.fullmatch(r"email_list\.(.+)\.csv", PurePosixPath(name).name)
        if match:
            return match.group(1)
    return None


def _profile_name(archive: zipfile.ZipFile, names: list[str], filename: str,
                  parse: Callable[[str], str | None], result: SourceResult) -> str | None:
    """The account holder's name from the export's profile file (``filename``), if any."""
    profile = next((n for n in names if PurePosixPath(n).name.lower() == filename), None)
    found: list[str | None] = [None]
    if profile is not None:
        def read() -> None:
            found[0] = parse(_read_text(archive, profile))
        _guarded(result, profile, read)
    return found[0]


def _linkedin_commentary(raw: str) -> str:
    """Undo LinkedIn's CSV quirks: each line wrapped in quotes, quotes doubled inside.

    ``Shares.csv`` writes a multi-line commentary with every line in quotes (``"a"\\n"b"``) and
    its own quotes doubled; one quote is removed at each end of such a line, then ``""`` is
    read as ``"``.
    """
    text = raw.replace("\r\n", "\n")
    lines = text.split("\n")
    if len(lines) > 1 and all(_QUOTED_LINE.fullmatch(line) for line in lines if line):
        text = "\n".join(_unwrap(line) for line in lines)
    return text_to_markdown(text.replace('""', '"'))


def _unwrap(line: str) -> str:
    if line.startswith('"'):
        line = line[1:]
    if line.endswith('"') and not line.endswith('""'):
        line = line[:-1]
    elif line.endswith('"""'):
        line = line[:-1]  # a doubled quote closing the line, then the wrapping one
    return line


_QUOTED_LINE = re.compile(r'"[^\n]*"|""|"[^\n]*|[^\n]*"')


IMPORTERS: dict[Platform, Callable[[ExportCollector, zipfile.ZipFile, str, SourceResult,
                                    _Tally], Any]] = {
    Platform.LINKEDIN: ExportCollector.import_linkedin,
    Platform.MEDIUM: ExportCollector.import_medium,
    Platform.SUBSTACK: ExportCollector.import_substack,
}
