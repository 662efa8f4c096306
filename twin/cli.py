"""The `twin` command line: services, stages and the warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from twin.logs import setup_logging
from twin.settings import Settings, get_settings, redact, reset_settings_cache
from twin.stages import STAGES, Stage, StageFailed
from twin.stages.chains import CHAINS
from twin.stages.commands import SUBMIT, stage_command

app = typer.Typer(
    help="LLM Twin: collect one person's public writing and learn to write like them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _error(message: object, label: str = "error", log: Path | None = None,
           to: Console | None = None) -> None:
    """One readable error line (the message is text, never markup), and where the log is."""
    line = Text()
    line.append(f"{label}: ", style="bold red")
    line.append(redact(str(message)).strip())
    if log is not None:
        line.append(f" (log: {log})", style="dim")
    (to or console).print(line, soft_wrap=True)


def _warn(message: object, label: str) -> None:
    line = Text()
    line.append(f"{label}: ", style="yellow")
    line.append(redact(str(message)))
    console.print(line, soft_wrap=True)


def _settings() -> Settings:
    settings = get_settings()
    setup_logging(settings.log_level)
    return settings


@app.callback()
def main(
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML settings file (default ./twin.toml when present).",
        exists=True, dir_okay=False)] = None,
) -> None:
    """LLM Twin. Settings come from TWIN_* variables and an optional twin.toml."""
    if config is not None:
        # The CLI writes the environment here only: child processes see the same file.
        os.environ["TWIN_CONFIG"] = str(config.resolve())
        reset_settings_cache()
    from twin.raycluster import use_cluster_token

    use_cluster_token(get_settings())  # before anything imports ray


ServiceOption = Annotated[list[str] | None, typer.Option(
    "--service", "-s", help="Only this service (repeatable). Default: all.")]


def _services(action: str, service: list[str] | None) -> None:
    """``twin.services.<action>(settings, service)``, its statuses as a table."""
    from twin import services

    try:
        statuses = getattr(services, action)(_settings(), service)
    except services.ServiceError as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    _print_statuses(statuses)


@app.command()
def up(service: ServiceOption = None) -> None:
    """Start the local services on 127.0.0.1: a Ray head (job submission), Milvus Lite, a
    Prefect server and worker (the prefect.yaml deployments), the web UI. Idempotent."""
    _services("up", service)


@app.command()
def down(service: ServiceOption = None) -> None:
    """Stop the local services that `twin up` started."""
    _services("down", service)


@app.command()
def status() -> None:
    """Say which services run where (local, external or stopped), and the warehouse."""
    from twin.services import status as current

    settings = _settings()
    _print_statuses(current(settings))
    console.print(f"warehouse: {redact(settings.warehouse_uri)}")


@app.command("env")
def env_command() -> None:
    """Print shell exports for Ray's and Prefect's own CLIs against this project's services.

    `eval "$(twin env)"`, then `ray job submit -- python -m jobs collect ...` and
    `prefect deployment run 'collect/collect' ...` reach the local stack with its token.
    """
    import shlex

    from twin.raycluster import token_environment
    from twin.services import RayHead

    settings = get_settings()
    head = RayHead()
    values = {"TWIN_HOME": str(settings.home_dir),
              "RAY_ADDRESS": head.gcs_address(settings),
              "RAY_API_SERVER_ADDRESS": head.dashboard_url(settings),
              **token_environment(settings),
              "PREFECT_API_URL": settings.prefect_api_url}
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")


def _print_statuses(statuses: list) -> None:
    table = Table(title="Services")
    for column in ("service", "state", "address", "detail"):
        table.add_column(column)
    for s in statuses:
        colour = {"running": "green", "external": "cyan"}.get(s.state, "yellow")
        table.add_row(s.name, f"[{colour}]{s.state}[/]", s.address or "", s.detail or "")
    console.print(table)


def _show_job_line(line: str) -> None:
    """A submitted job's log line, as text (its result line is for the machines)."""
    from twin.rayjobs import SUMMARY_MARKER

    if SUMMARY_MARKER not in line:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _run_stage(stage: Stage, values: dict[str, Any], extra: dict[str, Any]) -> None:
    """Run a stage here (its result printed) or as a Ray job (its log streamed)."""
    from twin.rayjobs import RayJobFailed

    settings = _settings()
    try:
        request = stage.parse(values)
        if extra.get("submit"):
            from twin.orchestration import submit

            result = submit(stage.name, request, settings, on_line=_show_job_line)
        else:
            result = stage.run(request, settings)
            result.render(console)
    except StageFailed as exc:
        _error(exc)
        raise typer.Exit(exc.code) from exc
    except RayJobFailed as exc:
        _error(exc, "job failed")
        raise typer.Exit(1) from exc
    if result.exit_code():
        raise typer.Exit(result.exit_code())


def _run_evaluate(stage: Stage, values: dict[str, Any], extra: dict[str, Any]) -> None:
    """``twin eval``: the stage, or (``--compare``) the latest report side by side."""
    if not extra["compare"]:
        _run_stage(stage, values, extra)
        return
    from twin.evaluate.runner import latest_report
    from twin.report import print_evaluation

    report = latest_report(_settings())
    if report is None:
        console.print("no evaluation yet: run `twin eval`")
        raise typer.Exit(1)
    print_evaluation(report, console)


_COMPARE = (Annotated[bool, typer.Option(
    "--compare", help="Print the latest report side by side; evaluate nothing.")], False)


def _add_stage_commands() -> None:
    """``twin collect``, ``ingest``, ``dataset``, ``train``, ``eval``: from their declaration
    in :mod:`twin.stages` (options = the request's fields, plus ``--submit``)."""
    for stage in STAGES.values():
        extra = {"submit": SUBMIT}
        if stage.name == "evaluate":
            extra["compare"] = _COMPARE
        handler = _run_evaluate if stage.name == "evaluate" else _run_stage
        app.command(stage.cli_name, help=stage.help)(stage_command(stage, handler, extra))


_add_stage_commands()


models_app = typer.Typer(help="The model registry: versions, their metrics, which one serves.",
                         no_args_is_help=False)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")
                              ] = False) -> None:
    """List registered model versions (newest first); * marks the one being served."""
    if ctx.invoked_subcommand is not None:
        return
    from twin.registry import Registry

    versions = Registry(_settings()).versions()
    if as_json:
        print(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    if not versions:
        console.print("no model versions yet: run `twin train`")
        return
    table = Table("", "version", "stage", "run", "base model", "dataset", "CPT steps", "steps",
                  "loss", "chosen settings", "commit", "created")
    for v in versions:
        m = v.metrics
        loss = f"{m['first_loss']:.3f} -> {m['final_loss']:.3f}" if "final_loss" in m else ""
        table.add_row("*" if v.aliases else "", str(v.version), v.stage, v.run_name,
                      v.base_model, v.dataset, v.params.get("pretrain_steps", "0"),
                      f"{m.get('steps', 0):.0f}", loss,
                      v.choices.summary() if v.choices else "not evaluated",
                      v.git_commit[:12], v.created)
    console.print(table)


def _version(action: str, version: int) -> Any:
    """``Registry(...).<action>(version)``; a registry error is one line and exit status 1."""
    from twin.registry import Registry, RegistryError

    try:
        return getattr(Registry(_settings()), action)(version)
    except RegistryError as exc:
        _error(exc)
        raise typer.Exit(1) from exc


@models_app.command("show")
def models_show(version: Annotated[int, typer.Argument(help="Version number.")]) -> None:
    """Everything recorded about one version: params, metrics, adapter location."""
    print(json.dumps(_version("get", version).to_dict(), indent=2))


@models_app.command("serve")
def models_serve(version: Annotated[int, typer.Argument(help="Version number.")]) -> None:
    """Mark a version as the one the Serve app loads."""
    v = _version("set_serving", version)
    console.print(f"version {v.version} ({v.stage}, run {v.run_name}) is now marked for serving",
                  markup=False)


@app.command("serve")
def serve_command(
    stop: Annotated[bool, typer.Option("--stop", help="Remove the app from the cluster.")
                    ] = False,
    version: Annotated[int | None, typer.Option(
        help="Serve this registry version (default: the one marked for serving).")] = None,
) -> None:
    """Serve the twin (RAG + the registered model) over HTTP on the local Ray head."""
    from twin.serving import runner

    settings = _settings()
    if version is not None:
        settings.serve.model_version = version
    if stop:
        runner.stop(settings)
        console.print("the twin is no longer served")
        return
    from twin.services import ServiceError
    from twin.services import up as start_services

    try:
        start_services(settings)
        health = runner.start(settings)
    except (ServiceError, TimeoutError, ValueError) as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    url = settings.serve_url
    console.print(f"serving {health['model_version']} ({health['engine']}) at {url}\n"
                  f"  API docs: {url}/docs\n  try: twin post \"a post about schema drift\"",
                  markup=False)


@app.command()
def post(
    prompt: Annotated[str, typer.Argument(help="What the post should be about.")],
    link: Annotated[list[str] | None, typer.Option(
        "--link", help="Extra material to draw on (repeatable).")] = None,
    author: Annotated[str | None, typer.Option(help="Whose voice (default: the only one).")
                      ] = None,
    max_words: Annotated[int, typer.Option(help="Length limit.")] = 300,
    temperature: Annotated[float | None, typer.Option(
        help="0 = deterministic (default: the evaluation's choice for the served model, "
        "else llm.temperature).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Ask the served twin for a LinkedIn post; prints it with its sources."""
    import asyncio

    from twin.report import draft_verdict
    from twin.serving.client import TwinAPI, TwinAPIError

    body = {"prompt": prompt, "links": link or [], "author_id": author,
            "max_words": max_words, "temperature": temperature}
    try:
        data = asyncio.run(TwinAPI.from_settings(_settings()).post(body))
    except TwinAPIError as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console.print(data["post"], markup=False, highlight=False)
    console.print(Text(draft_verdict(data), style="dim"), highlight=False)
    table = Table("score", "platform", "title", "url", title=f"sources ({data['model_version']})")
    for source in data["sources"]:
        table.add_row(f"{source['score']:.3f}", source["platform"], source["title"],
                      source["url"])
    console.print(table)
    for url, problem in data.get("link_errors", {}).items():
        _warn(f"{url}: {problem}", "link skipped")
    for note in data.get("notes", []):
        _warn(note, "note")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    author: Annotated[str | None, typer.Option(help="Only this author (id or name).")] = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only post, article or repository.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many chunks.")] = 5,
    mode: Annotated[str, typer.Option(help="dense, text (BM25) or hybrid (RRF).")] = "hybrid",
    local: Annotated[bool, typer.Option(
        "--local", help="Search in this process even when the twin is served (loads the "
        "embedder here: several seconds).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the chunks nearest to a query, with score, source URL and date.

    When `twin serve` runs, the served app answers (it already holds the embedder and a
    Milvus connection: about a second); otherwise the search runs here.
    """
    from twin.report import hits_table
    from twin.retrieval import MODES
    from twin.retrieval import search as find
    from twin.serving.client import served_search
    from twin.vectorstore import Hit, VectorStoreError

    settings = _settings()
    if mode not in MODES:
        _error(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        raise typer.Exit(2)
    try:
        found = None if local else served_search(query, settings, author=author,
                                                 platform=platform, kind=kind, k=k, mode=mode)
        hits = [Hit(**h) for h in found] if found is not None else find(
            query, settings, author=author, platform=platform, kind=kind, k=k,
            mode=mode)  # type: ignore[arg-type]
    except (ValueError, VectorStoreError) as exc:
        _error(exc)
        raise typer.Exit(2 if isinstance(exc, ValueError) else 1) from exc
    if as_json:
        from dataclasses import asdict

        print(json.dumps([asdict(h) for h in hits], ensure_ascii=False))
        return
    if not hits:
        console.print("no matching chunks")
        return
    console.print(hits_table(hits, query))


def _provenance_line(doc: Any) -> str:
    """'by <author> (from json-ld); published 2021-03-04 (from htmldate); ...' for one doc."""
    where = doc.metadata.get("provenance") or {}
    author = doc.metadata.get("author") or "author unknown"
    date = f"{doc.published_at:%Y-%m-%d}" if doc.published_at else "date unknown"
    parts = [f"by {author}" + (f" (from {where['author']})" if "author" in where else ""),
             f"published {date}"
             + (f" (from {where['published_at']})" if "published_at" in where else "")]
    if "title" in where:
        parts.append(f"title from {where['title']}")
    return "; ".join(parts)


@app.command()
def warehouse(
    author: Annotated[str | None, typer.Option(help="Only this author (id or name).")] = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    limit: Annotated[int, typer.Option(help="How many documents to list.")] = 20,
    show: Annotated[str | None, typer.Option(help="Print one document (id or prefix).")] = None,
    history: Annotated[bool, typer.Option(help="List table versions and collection runs.")
                       ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List what the warehouse stores per author and platform: counts, titles, dates."""
    from twin.domain import slugify
    from twin.report import documents_table, stats_table
    from twin.warehouse import Warehouse

    settings = _settings()
    store = Warehouse.from_settings(settings)
    author_id = slugify(author) if author else None
    if show:
        doc = store.get(show)
        if doc is None:
            _error(f"no single document with id {show!r}")
            raise typer.Exit(1)
        if as_json:
            console.print_json(doc.model_dump_json())
        else:
            console.print(f"[bold]{doc.title}[/] ({doc.platform.value} {doc.kind.value}, "
                          f"{doc.published_at:%Y-%m-%d} )" if doc.published_at else doc.title)
            console.print(doc.url, markup=False, highlight=False)
            console.print(Text(_provenance_line(doc)))
            console.print(doc.text, markup=False, highlight=False)
        return
    if history:
        for version in store.history(limit):
            console.print(f"version {version.get('version')}: {version.get('operation')} "
                          f"{json.dumps(version.get('operationMetrics', {}))}")
        for run in store.runs(author_id, limit):
            totals = {k: sum(s[k] for s in run["summary"]["sources"])
                      for k in ("found", "new", "updated", "failed")}
            console.print(f"run {run['run_id']} {run['finished_at']:%Y-%m-%d %H:%M} "
                          f"{run['author_id']}: {totals} -> version {run['table_version']}")
        return
    docs = store.documents(author_id=author_id, platform=platform)
    if as_json:
        console.print_json(json.dumps({"stats": store.stats(author_id), "documents": [
            {"id": d.id, "platform": d.platform, "kind": d.kind, "title": d.title, "url": d.url,
             "published_at": d.published_at.isoformat() if d.published_at else None}
            for d in docs[:limit]]}, default=str))
        return
    if not docs:
        console.print(f"the warehouse at {store.uri} holds no documents"
                      + (f" for {author_id}" if author_id else ""))
        return
    console.print(stats_table(store.stats(author_id)))
    console.print(documents_table(docs, limit))
    console.print(f"table version {store.version()} at {store.documents_uri}")


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(
        help="Leave the services and the demo sites running afterwards (until Ctrl-C).")
    ] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show every job's and library's output here instead of in "
        "the log file.")] = False,
) -> None:
    """The whole journey for the bundled demo author, offline: services, collect + ingest,
    search, dataset + fine-tune, before/after, Serve and a post, the UI's address.

    Each stage prints one line and its result; everything else goes to <home>/logs/demo.log.
    """
    import logging

    from twin.demo.run import run_demo
    from twin.terminal import quiet_terminal

    settings = _settings()
    log_path = settings.logs_dir / "demo.log"
    with quiet_terminal(log_path, verbose) as terminal:
        terminal.print(f"LLM Twin demo: {settings.home_dir} holds its data; "
                       + ("output follows (--verbose)" if verbose else f"logs: {log_path}"),
                       markup=False, soft_wrap=True)
        try:
            run_demo(settings, keep_running=keep_running, console=terminal, verbose=verbose)
        except Exception as exc:  # noqa: BLE001 - one readable line; the traceback is logged
            logging.getLogger("twin.demo").exception("the demo failed")
            _error(str(exc).strip().splitlines()[0], "demo failed",
                   log=None if verbose else log_path, to=terminal)
            raise typer.Exit(1) from exc


@app.command("demo-site")
def demo_site() -> None:
    """Serve the demo author's sites on 127.0.0.1 until Ctrl-C, and print how to collect them."""
    import time

    from twin.demo.site import DemoSite

    settings = _settings()
    with DemoSite(settings.home_dir / "demo", settings.demo_base_port) as site:
        console.print("demo sites: " + ", ".join(f"{k} {site.url(k)}" for k in site.servers))
        console.print("settings to use them (TWIN_* variables):")
        overrides = site.settings_overrides()
        for group, values in overrides.items():
            console.print(f"  TWIN_{group.upper()}='{json.dumps(values)}'", markup=False)
        console.print("links: " + " ".join(site.links()), markup=False)
        console.print("exports: " + " ".join(str(p) for p in site.exports()), markup=False)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")


@app.command("migrate-milvus")
def migrate_milvus(
    to: Annotated[str, typer.Option("--to", help="The target Milvus URI, e.g. "
                                    "http://milvus:19530 or a Zilliz endpoint.")],
    token: Annotated[str | None, typer.Option(
        help="The target's token or user:password (or TWIN_MIGRATE_TOKEN).",
        envvar="TWIN_MIGRATE_TOKEN")] = None,
    collection: Annotated[str | None, typer.Option(
        help="Collection to copy (default milvus.collection).")] = None,
) -> None:
    """Copy the knowledge base to another Milvus, with every embedding; re-running resumes.

    The source is the configured Milvus (the local Lite server by default); BM25 is rebuilt on
    the target. Afterwards point TWIN_MILVUS__URI at the target.
    """
    from twin.migrate import migrate_collection
    from twin.vectorstore import VectorStoreError

    try:
        result = migrate_collection(_settings(), to, target_token=token, collection=collection)
    except (ValueError, VectorStoreError) as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    console.print(f"copied {result.copied} chunks of {result.collection} from {result.source} "
                  f"to {result.target} (now {result.target_count} there); set "
                  f"TWIN_MILVUS__URI={result.target} to use it", markup=False)


@app.command()
def ui(
    host: Annotated[str | None, typer.Option(help="Listen address (default ui.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ui.port, 8080).")] = None,
) -> None:
    """Start the web UI: profile, collection runs, library, writing posts, model versions.

    It talks to the twin's HTTP API (`twin serve`) and to Prefect (`twin up`); start those
    first for every page to work.
    """
    from twin.ui.app import run_ui

    settings = _settings()
    if host:
        settings.ui.host = host
    if port:
        settings.ui.port = port
    console.print(f"LLM Twin UI at http://{settings.ui.host}:{settings.ui.port} (Ctrl-C stops)")
    run_ui(settings)


@app.command()
def deploy() -> None:
    """(Re)register the prefect.yaml deployments with Prefect (`twin up` does it too)."""
    from twin.deployments import PrefectError, register_deployments
    from twin.prefect_client import deployment_name

    settings = _settings()
    try:
        register_deployments(settings)
    except PrefectError as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    console.print(f"registered {', '.join(map(deployment_name, CHAINS))} in work pool "
                  f"{settings.prefect.work_pool} at {redact(settings.prefect_api_url)}",
                  markup=False)


@app.command("run")
def run_deployment(
    deployment: Annotated[str, typer.Argument(
        help=f"{', '.join(CHAINS)} (or flow/deployment).")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="KEY=VALUE, VALUE as JSON when it parses (repeatable).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run and print its logs.")] = True,
) -> None:
    """Start a Prefect deployment run (as the UI does) and follow it to the end."""
    from twin.deployments import PrefectAPI, PrefectError
    from twin.stages.options import parse_params

    settings = _settings()
    try:
        params = parse_params(param or [])
    except ValueError as exc:
        _error(exc)
        raise typer.Exit(2) from exc
    api = PrefectAPI.from_settings(settings)
    try:
        started = api.run(deployment, params)
        console.print(f"flow run {started.name} ({started.id})", markup=False)
        if not wait:
            return
        end = api.wait(started.id, settings.prefect.flow_timeout_s * 4,
                       on_log=lambda line: console.print(line, markup=False, highlight=False))
    except PrefectError as exc:
        _error(exc)
        raise typer.Exit(1) from exc
    console.print(f"{end.name}: {end.state} {end.state_message}", markup=False)
    if end.state != "COMPLETED":
        raise typer.Exit(1)


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (secrets masked)."""
    from twin.settings import masked

    console.print_json(json.dumps(masked(get_settings())))


if __name__ == "__main__":
    app()
