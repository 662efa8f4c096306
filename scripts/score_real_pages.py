"""Score collection on the real saved pages (tests/fixtures/realpages) against trafilatura.

    .venv/bin/python -m scripts.score_real_pages [--pages] [--only ID ...]

Prints the per-platform table (body word F1, author and published date right, pages whose
stored text holds CSS, JavaScript or a widget label) for the collectors and for plain
trafilatura on the same HTML, and with ``--pages`` one line per page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.real_page_scores import markdown_table, score_all, table
from tests.realpages import load_manifest, load_resources, serve_real_pages
from twin.settings import Settings


def main() -> int:
    """Collect every page, score it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", action="store_true", help="one line per page as well")
    parser.add_argument("--only", nargs="*", default=None, help="only these page ids")
    args = parser.parse_args()
    pages = [p for p in load_manifest() if not args.only or p.id in args.only]
    with tempfile.TemporaryDirectory() as home, serve_real_pages(pages, load_resources()) as served:
        settings = Settings(home=Path(home))
        ours, theirs = score_all(pages, served, settings)
    print(markdown_table(table(ours, theirs)))
    if args.pages:
        for mine, base in zip(ours, theirs, strict=True):
            f1 = f"{mine.f1:.2f}/{base.f1:.2f}" if mine.f1 is not None else "-"
            print(f"{mine.page.id:28} {mine.system:16} f1 {f1:9} "
                  f"author {mine.author!r:28} ({'ok' if mine.author_ok else mine.author_ok}) "
                  f"date {mine.published!s:.10} ({'ok' if mine.date_ok else mine.date_ok}) "
                  f"title {mine.title[:50]!r} ({'ok' if mine.title_ok else 'WRONG'}) "
                  f"ends {mine.ends_ok} {'LEAKS ' + str(mine.leaks[:3]) if mine.leaks else ''}"
                  f"{' problems: ' + '; '.join(mine.problems)[:160] if mine.problems else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
