"""The NiceGUI web UI: one place where a person runs their twin.

Pages: Profile (name, links, export ZIPs), Collect (start the collection deployment, follow it,
history), Library (what the warehouse holds, search), Write (a post streamed in, with its
sources), Model (registered versions, which is served). The pages talk to the twin's HTTP API
and to Prefect's API only; every failure is shown as a readable message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nicegui import app, run, ui

from twin.domain import slugify
from twin.features.clean import plain_text
from twin.settings import Settings, get_settings
from twin.ui.clients import PrefectError, TwinAPI, TwinAPIError, prefect
from twin.ui.profile import (
    check_author,
    check_link,
    collect_settings,
    load_profile,
    platform_of,
    save_profile,
    shown_name,
    store_upload,
)
from twin.ui.safe import link, same_origin_path
from twin.ui.safe import markdown as safe_markdown

log = logging.getLogger(__name__)
PAGES = [("Profile", "/profile", "person"), ("Collect", "/collect", "cloud_download"),
         ("Library", "/library", "menu_book"), ("Write", "/write", "edit"),
         ("Model", "/model", "model_training")]
TONES = ["as usual", "professional", "casual", "enthusiastic", "reflective", "storytelling"]
STATE_COLOURS = {"COMPLETED": "positive", "FAILED": "negative", "CRASHED": "negative",
                 "CANCELLED": "grey", "RUNNING": "primary", "PENDING": "grey",
                 "SCHEDULED": "grey"}


def _settings() -> Settings:
    return get_settings()


def show_error(where: ui.element, message: str) -> None:
    """A readable error on the page (and as a notification)."""
    where.clear()
    with where:
        tag(ui.label(message).classes("text-negative"), "error")
    ui.notify(message, type="negative", multi_line=True)


def tag(element: Any, name: str) -> Any:
    """Name an element for tests: a marker (simulated User) and a data-testid (browser)."""
    return element.mark(name).props(f"data-testid={name}")


@contextmanager
def frame(title: str) -> Iterator[ui.column]:
    """The shared page frame: navigation that wraps on a phone, a centred column."""
    ui.page_title(f"LLM Twin · {title}")
    with ui.header().classes("items-center flex-wrap gap-1 px-2 py-1"):
        ui.label("LLM Twin").classes("text-lg font-bold mr-2")
        for name, path, icon in PAGES:
            button = ui.button(name, icon=icon, on_click=lambda p=path: ui.navigate.to(p))
            button.props("flat dense no-caps color=white" + (" outline" if name == title
                                                             else ""))
    with ui.column().classes("w-full max-w-3xl mx-auto p-3 gap-3") as column:
        ui.label(title).classes("text-2xl")
        yield column


# Profile -------------------------------------------------------------------------------------
def draw_items(column: ui.column, items: list[str], empty: str,
               remove: Callable[[str], None], show: Callable[[str], Any]) -> None:
    """A list of saved items, each with a remove button."""
    column.clear()
    with column:
        if not items:
            ui.label(empty).classes("text-grey-7")
        for item in items:
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                show(item)
                ui.button(icon="close", on_click=lambda i=item: remove(i)).props(
                    "flat dense round").tooltip("remove")


def profile_page() -> None:
    """Name, links (checked as typed) and export ZIPs, saved in the home folder."""
    settings = _settings()
    profile = load_profile(settings)
    with frame("Profile"):
        name = ui.input("Your name (as it appears on your writing)", value=profile.author,
                        validation=lambda v: check_author(v)).classes("w-full")
        tag(name, "author")

        def save_name() -> None:
            problem = check_author(name.value or "")
            if problem:
                ui.notify(problem, type="warning")
                return
            profile.author = name.value.strip()
            save_profile(profile, settings)
            ui.notify("Saved", type="positive")

        ui.button("Save name", icon="save", on_click=save_name)

        ui.label("Your links").classes("text-lg mt-2")
        ui.label("Medium and Substack profiles, LinkedIn posts and articles, GitHub, any blog."
                 ).classes("text-sm text-grey-7")
        links = ui.column().classes("w-full gap-1")

        def draw_links() -> None:
            draw_items(links, profile.links, "No links yet.", remove_link,
                       lambda url: (ui.badge(platform_of(url, collect_settings(profile,
                                                                               settings))),
                                     link(url, url).classes("truncate grow")))

        def remove_link(url: str) -> None:
            profile.links.remove(url)
            save_profile(profile, settings)
            draw_links()

        def add_link() -> None:
            value = (new_link.value or "").strip()
            problem = check_link(value, collect_settings(profile, settings)) if value \
                else "type a link first"
            if problem:
                ui.notify(problem, type="warning")
                return
            if value not in profile.links:
                profile.links.append(value)
                save_profile(profile, settings)
            new_link.value = ""
            draw_links()

        with ui.row().classes("w-full items-start no-wrap gap-2"):
            new_link = ui.input("Add a link", placeholder="https://medium.com/@you",
                                validation=lambda v: check_link(
                                    v or "", collect_settings(profile, settings))).classes("grow")
            tag(new_link, "new-link")
            new_link.on("keydown.enter", add_link)
            tag(ui.button("Add", icon="add", on_click=add_link), "add-link")
        draw_links()

        ui.label("Data exports").classes("text-lg mt-2")
        ui.label("The ZIPs LinkedIn, Medium and Substack give you ('Get a copy of your data')."
                 ).classes("text-sm text-grey-7")
        exports = ui.column().classes("w-full gap-1")

        def draw_exports() -> None:
            draw_items(exports, profile.exports, "No exports yet.", remove_export,
                       lambda path: (ui.icon("folder_zip"),
                                     ui.label(path.rsplit("/", 1)[-1]).classes("grow")))

        def remove_export(path: str) -> None:
            profile.exports.remove(path)
            save_profile(profile, settings)
            draw_exports()

        async def uploaded(event: Any) -> None:
            limit = settings.ui.max_upload_bytes
            if event.file.size() > limit:  # refused before it is read into memory
                ui.notify(f"{shown_name(event.file.name)}: larger than {limit:,} bytes",
                          type="negative")
                return
            try:
                path = store_upload(event.file.name, await event.file.read(), settings)
            except ValueError as exc:
                ui.notify(str(exc), type="negative")
                return
            except OSError as exc:  # the upload's temporary file could not be read back
                ui.notify(f"{shown_name(event.file.name)}: could not be read "
                          f"({exc.strerror or exc})", type="negative")
                return
            if str(path) not in profile.exports:
                profile.exports.append(str(path))
                save_profile(profile, settings)
            ui.notify(f"{shown_name(event.file.name)} uploaded", type="positive")
            draw_exports()

        def refused() -> None:
            ui.notify(f"not uploaded: exports are .zip files of at most "
                      f"{settings.ui.max_upload_bytes:,} bytes", type="negative")

        def failed() -> None:
            ui.notify(f"the upload was refused: larger than {settings.ui.max_upload_bytes:,} "
                      "bytes, or this page's session has ended (reload it)", type="negative")

        upload = ui.upload(label="Export ZIPs", auto_upload=True, multiple=True,
                           on_upload=uploaded, on_rejected=refused,
                           max_file_size=settings.ui.max_upload_bytes)
        upload.props("accept=.zip").classes("w-full")
        upload.on("failed", failed)
        draw_exports()


# Collect -------------------------------------------------------------------------------------
def _artifact_text(artifacts: list[dict[str, Any]]) -> tuple[float | None, list[str]]:
    progress = [a for a in artifacts if a.get("type") == "progress"]
    markdown = [str(a.get("data") or "") for a in artifacts if a.get("type") == "markdown"]
    return (float(progress[-1]["data"]) if progress else None), markdown


def collect_page() -> None:
    """Start the collection (and ingestion) deployment; follow the run live; run history."""
    settings = _settings()
    profile = load_profile(settings)
    api = prefect(settings)
    state: dict[str, Any] = {"run": None}
    with frame("Collect"):
        sources = len(profile.links) + len(profile.exports)
        tag(ui.label(f"{profile.author or 'No name yet'}: {len(profile.links)} links, "
                     f"{len(profile.exports)} export ZIPs"), "profile-summary")
        ingest = ui.checkbox("Make it searchable right away (ingest)", value=True)
        errors = ui.column().classes("w-full")
        button = tag(ui.button("Collect now", icon="cloud_download"), "collect")
        if not profile.author or not sources:
            button.disable()
            ui.label("Add your name and at least one link or export on the Profile page first."
                     ).classes("text-warning")
        live = ui.card().classes("w-full")
        live.set_visibility(False)
        with live:
            title = ui.label().classes("text-lg")
            status = tag(ui.badge(""), "run-state")
            bar = tag(ui.linear_progress(value=0, show_value=False).classes("w-full"),
                      "run-progress")
            stages = ui.column().classes("w-full gap-0")
            summaries = ui.column().classes("w-full")
            ui.label("Log").classes("text-sm text-grey-7")
            logs = ui.log(max_lines=300).classes("w-full h-48")
        ui.label("History").classes("text-lg mt-2")
        history = ui.column().classes("w-full gap-1")
        seen = {"logs": 0}

        async def refresh_history() -> None:
            try:
                runs = await run.io_bound(api.runs, None, 15)
            except PrefectError as exc:
                show_error(errors, str(exc))
                return
            history.clear()
            with history:
                if not runs:
                    ui.label("No runs yet.").classes("text-grey-7")
                for r in runs:
                    with ui.row().classes("w-full items-center gap-2 no-wrap"):
                        ui.badge(r.state, color=STATE_COLOURS.get(r.state, "grey"))
                        ui.label(f"{r.deployment or '?'} · {r.name}").classes("grow truncate")
                        ui.label(r.created[:19].replace("T", " ")).classes(
                            "text-sm text-grey-7")
                        ui.button("watch", on_click=lambda i=r.id: watch(i)).props(
                            "flat dense no-caps")

        async def watch(run_id: str) -> None:
            state["run"] = run_id
            seen["logs"] = 0
            logs.clear()
            live.set_visibility(True)
            await poll()

        async def poll() -> None:
            run_id = state["run"]
            if run_id is None:
                return
            try:
                flow_run = await run.io_bound(api.flow_run, run_id)
                tasks = await run.io_bound(api.task_runs, run_id)
                artifacts = await run.io_bound(api.artifacts, run_id)
                lines = await run.io_bound(api.logs, run_id, seen["logs"])
            except PrefectError as exc:
                show_error(errors, str(exc))
                return
            title.text = f"Run {flow_run.name}"
            status.text = flow_run.state
            status.props(f"color={STATE_COLOURS.get(flow_run.state, 'grey')}")
            progress, markdown = _artifact_text(artifacts)
            # A finished run is finished, whatever its last progress artifact said (Prefect
            # may record the final update after the run's state).
            bar.value = 1.0 if flow_run.state == "COMPLETED" else (progress or 0.0) / 100
            stages.clear()
            with stages:
                for t in tasks:
                    stage = t["name"].rsplit("-", 1)[0].removesuffix("-ray-job")
                    ui.label(f"{stage}: {t['state'].lower()}"
                             + (f" ({t['message'][:200]})" if t["state"] == "FAILED" else ""))
            summaries.clear()
            with summaries:
                for text in markdown:
                    safe_markdown(text).classes("w-full overflow-x-auto")
                if flow_run.state in ("FAILED", "CRASHED"):
                    ui.label(flow_run.state_message).classes("text-negative")
            for line in lines:
                logs.push(line["message"][:500])
            seen["logs"] += len(lines)
            if flow_run.finished:
                state["run"] = None
                await refresh_history()

        async def start() -> None:
            button.disable()
            params = {"author": profile.author, "links": profile.links,
                      "exports": profile.exports, "ingest": bool(ingest.value)}
            if profile.settings_overrides:
                params["settings_overrides"] = profile.settings_overrides
            try:
                started = await run.io_bound(api.run, "collect", params)
            except PrefectError as exc:
                show_error(errors, str(exc))
                button.enable()
                return
            ui.notify(f"Collection started: {started.name}", type="positive")
            await watch(started.id)
            await refresh_history()
            button.enable()

        button.on_click(start)
        ui.timer(settings.ui.poll_s, poll)
        ui.timer(0.1, refresh_history, once=True)


# Library -------------------------------------------------------------------------------------
def library_page() -> None:
    """What the warehouse holds per platform; search over the knowledge base."""
    settings = _settings()
    profile = load_profile(settings)
    twin = TwinAPI.from_settings(settings)
    author_id = slugify(profile.author) if profile.author else None
    with frame("Library"):
        errors = ui.column().classes("w-full")
        holdings = ui.column().classes("w-full")
        with ui.row().classes("w-full items-start no-wrap gap-2"):
            query = tag(ui.input("Search your writing").classes("grow"), "search")
            search_button = tag(ui.button("Search", icon="search"), "search-button")
        results = ui.column().classes("w-full gap-2")

        async def load() -> None:
            try:
                data = await twin.library(author_id)
            except TwinAPIError as exc:
                show_error(errors, str(exc))
                return
            holdings.clear()
            with holdings:
                if not data["platforms"]:
                    ui.label("Nothing collected yet: start a collection.").classes(
                        "text-grey-7")
                    return
                rows = [{"platform": r["platform"], "documents": r["documents"],
                         "first": (r["first"] or "")[:10], "last": (r["last"] or "")[:10],
                         "characters": f"{r['chars']:,}"} for r in data["platforms"]]
                ui.table(rows=rows, columns=[{"name": k, "label": k, "field": k}
                                             for k in rows[0]]).classes("w-full")
                ui.label("Latest").classes("text-lg")
                for doc in data["documents"][:10]:
                    with ui.row().classes("w-full items-center gap-2 no-wrap"):
                        ui.badge(doc["platform"])
                        link(doc["title"] or doc["url"], doc["url"]).classes("truncate")

        async def find() -> None:
            text = (query.value or "").strip()
            if not text:
                ui.notify("type something to search for", type="warning")
                return
            try:
                hits = await twin.search(text, author_id, k=5)
            except TwinAPIError as exc:
                show_error(errors, str(exc))
                return
            results.clear()
            with results:
                if not hits:
                    ui.label("No matches.")
                for hit in hits:
                    with ui.card().classes("w-full"):
                        with ui.row().classes("items-center gap-2"):
                            ui.badge(hit["platform"])
                            link(hit["title"] or hit["url"], hit["url"])
                            ui.label(f"{hit['score']:.3f}").classes("text-grey-7 text-sm")
                        tag(ui.label(plain_text(hit["text"], 300)).classes("text-sm"),
                            "snippet")

        search_button.on_click(find)
        query.on("keydown.enter", find)
        ui.timer(0.1, load, once=True)


# Write ---------------------------------------------------------------------------------------
def write_page() -> None:
    """A prompt, optional links, length and tone; the post streams in with its sources."""
    settings = _settings()
    profile = load_profile(settings)
    twin = TwinAPI.from_settings(settings)
    with frame("Write"):
        prompt = tag(ui.textarea("What should the post be about?").classes("w-full").props(
            "autogrow"), "prompt")
        links = ui.textarea("Links to draw on (optional, one per line)",
                            validation=lambda v: next(filter(None, (
                                check_link(line, settings) for line in (v or "").splitlines())),
                                None)).classes("w-full")
        links.props("autogrow")
        with ui.row().classes("w-full items-center gap-4"):
            words = ui.number("Words (at most)", value=200, min=30, max=600, step=10).classes(
                "w-32")
            tone = ui.select(TONES, value="as usual", label="Tone").classes("min-w-40")
        with ui.row().classes("gap-2"):
            write = tag(ui.button("Write", icon="edit"), "write")
            again = ui.button("Regenerate", icon="refresh")
            copy = ui.button("Copy", icon="content_copy")
        again.disable()
        copy.disable()
        errors = ui.column().classes("w-full")
        post = tag(ui.label("").classes("w-full whitespace-pre-wrap"), "post")
        meta = ui.label("").classes("text-sm text-grey-7")
        voice = tag(ui.column().classes("w-full gap-0"), "voice")
        ui.label("Sources").classes("text-lg")
        sources = tag(ui.column().classes("w-full gap-1"), "sources")
        notes = ui.column().classes("w-full gap-0")
        last: dict[str, Any] = {}

        async def generate(body: dict[str, Any]) -> None:
            write.disable()
            again.disable()
            errors.clear()
            post.text, meta.text = "", "writing…"
            sources.clear()
            notes.clear()
            voice.clear()
            try:
                async for event, data in twin.stream_post(body):
                    if event == "sources":
                        _show_sources(sources, notes, data)
                    elif event == "token":
                        post.text += data["text"]
                    elif event == "done":
                        # The draft shaped for the channel and checked replaces the raw one.
                        post.text = data.get("post") or post.text
                        meta.text = (f"{data['model_version']} · "
                                     f"{data['timings'].get('generate_s', 0):.1f}s")
                        _show_voice(voice, data)
            except TwinAPIError as exc:
                show_error(errors, str(exc))
                meta.text = ""
            finally:
                write.enable()
                again.enable()
                if post.text.strip():
                    copy.enable()

        async def start() -> None:
            text = (prompt.value or "").strip()
            if not text:
                ui.notify("write a prompt first", type="warning")
                return
            extra = [line.strip() for line in (links.value or "").splitlines() if line.strip()]
            problems = [f"{link}: {p}" for link in extra if (p := check_link(link, settings))]
            if problems:
                ui.notify("; ".join(problems), type="warning")
                return
            last.clear()
            last.update({"prompt": text, "links": extra, "max_words": int(words.value or 200),
                         # None: the served model's chosen temperature (or the settings').
                         "temperature": None,
                         "author_id": slugify(profile.author) if profile.author else None,
                         "tone": None if tone.value == "as usual" else tone.value})
            await generate(dict(last))

        async def regenerate() -> None:
            if last:
                await generate(dict(last))

        write.on_click(start)
        again.on_click(regenerate)
        copy.on_click(lambda: (ui.clipboard.write(post.text), ui.notify("Copied")))


def _show_voice(box: Any, data: dict[str, Any]) -> None:
    """'Sounds like you' with its evidence, then the checks that failed and the notes."""
    with box:
        score = data.get("voice")
        if score:
            tag(ui.label(f"Sounds like you: {round(100 * score['score'])}%").classes(
                "text-lg"), "voice-score")
            for item in score.get("evidence", [])[:5]:
                ui.label(("+ " if item["weight"] > 0 else "- ") + item["text"]).classes(
                    "text-sm")
        else:
            ui.label("No voice score: no voice model was built for this author yet.").classes(
                "text-sm text-grey-7")
        checks = data.get("checks") or []
        failed = [c for c in checks if not c["passed"]]
        ui.label(f"Checks passed: {len(checks) - len(failed)}/{len(checks)}").classes("text-sm")
        for check in failed:
            ui.label(f"{check['name']}: {check['reason']}").classes("text-sm text-orange-9")
        for note in data.get("notes") or []:
            ui.label(f"note: {note}").classes("text-sm text-grey-7")


def _show_sources(sources: ui.column, notes: ui.column, data: dict[str, Any]) -> None:
    with sources:
        if not data["sources"]:
            ui.label("No sources: the knowledge base had nothing close.").classes("text-grey-7")
        for source in data["sources"]:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.badge(source["platform"], color="secondary" if source.get("origin") == "link"
                         else "primary")
                link(source["title"] or source["url"], source["url"]).classes("truncate grow")
                ui.label(f"{source['score']:.3f}").classes("text-sm text-grey-7")
    with notes:
        for url, problem in (data.get("link_errors") or {}).items():
            ui.label(f"Link skipped: {url}: {problem}").classes("text-warning text-sm")
        for note in data.get("notes") or []:
            ui.label(note).classes("text-grey-7 text-sm")


# Model ---------------------------------------------------------------------------------------
def model_page() -> None:
    """Registered model versions with their metrics; which one is served."""
    settings = _settings()
    twin = TwinAPI.from_settings(settings)
    with frame("Model"):
        errors = ui.column().classes("w-full")
        body = ui.column().classes("w-full")

        async def load() -> None:
            try:
                data = await twin.model_versions()
            except TwinAPIError as exc:
                show_error(errors, str(exc))
                return
            body.clear()
            with body:
                tag(ui.label(f"Served now: {data['served']} ({data['engine']})"), "served")
                ui.label("Settings in use: " + _choices_text(
                    (data.get("model") or {}).get("choices")))
                if not data["versions"]:
                    ui.label("No trained versions yet: the base model is served.")
                    return
                rows = []
                for v in data["versions"]:
                    m = v["metrics"]
                    rows.append({
                        "version": v["version"], "stage": v["stage"],
                        "marked": ", ".join(v["aliases"]),
                        "steps": int(m.get("steps", 0)),
                        "loss": (f"{m['first_loss']:.3f} → {m['final_loss']:.3f}"
                                 if "final_loss" in m else ""),
                        "sounds like you": _metric(m, "eval_voice_score"),
                        "checks passed": _metric(m, "eval_checks_passed"),
                        "gate": v.get("gate") or "not gated",
                        "chosen settings": _choices_text(v.get("choices")),
                        "style distance": _metric(m, "eval_style_distance"),
                        "similarity to the author": _metric(m, "eval_author_similarity"),
                        "gain over base": _metric(m, "eval_gain_reference_similarity"),
                        "dataset": v["dataset"], "base model": v["base_model"],
                        "created": v["created"][:19]})
                ui.table(rows=rows, columns=[{"name": k, "label": k, "field": k}
                                             for k in rows[0]]).classes("w-full")

        ui.timer(0.1, load, once=True)


def _choices_text(choices: dict[str, Any] | None) -> str:
    """The evaluation's choices in one line, or that the settings' defaults apply."""
    from twin.domain.choices import Choices

    return Choices.model_validate(choices).summary() if choices else \
        "the settings' defaults (not chosen by an evaluation yet)"


def _metric(metrics: dict[str, float], key: str) -> str:
    return f"{metrics[key]:.3f}" if key in metrics else "not evaluated"


def require_key(api_key: str) -> None:
    """With ``serve.api_key`` set, every page asks for that key first (once per browser); the
    gate (:mod:`twin.ui.gate`) checks the session on every other route."""
    import hmac

    @ui.page("/login")
    def login(redirect_to: str = "/") -> None:
        ui.page_title("LLM Twin · sign in")
        target = same_origin_path(redirect_to)  # never off this origin: no open redirect
        with ui.card().classes("absolute-center w-80 max-w-full"):
            ui.label("LLM Twin").classes("text-lg font-bold")
            key = tag(ui.input("API key", password=True, password_toggle_button=True),
                      "api-key").classes("w-full")

            def check() -> None:
                if hmac.compare_digest((key.value or "").encode(), api_key.encode()):
                    app.storage.user["authenticated"] = True
                    ui.navigate.to(target)
                else:
                    ui.notify("wrong key", type="negative")

            key.on("keydown.enter", check)
            tag(ui.button("Sign in", on_click=check), "sign-in")


def register_pages() -> None:
    """Declare every page (called once, before ``ui.run``)."""
    from twin.ui import gate

    settings = _settings()
    api_key = settings.serve.api_key
    gate.install(keyed=bool(api_key), max_upload_bytes=settings.ui.max_upload_bytes)
    if api_key:
        require_key(api_key)
    pages: dict[str, Callable[[], None]] = {"/profile": profile_page, "/collect": collect_page,
                                            "/library": library_page, "/write": write_page,
                                            "/model": model_page}
    for path, build in pages.items():
        ui.page(path)(build)

    @ui.page("/")
    def index() -> None:
        profile = load_profile(_settings())
        ui.navigate.to("/write" if profile.author and profile.links + profile.exports
                       else "/profile")


def run_ui(settings: Settings | None = None) -> None:
    """Serve the UI (blocks): ``twin ui`` and ``serve/ui.py``."""
    import secrets

    settings = settings or _settings()
    register_pages()
    ui.run(host=settings.ui.host, port=settings.ui.port, title="LLM Twin", reload=False,
           show=False, favicon="✍️", storage_secret=settings.ui.storage_secret
           or secrets.token_hex(16))


__all__ = ["app", "register_pages", "run_ui"]
