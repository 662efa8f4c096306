"""The Serve app on a real local Ray, with the small default model and the demo author's
knowledge base in a real Milvus: posts with sources, streaming, the OpenAI client, bad input."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import demo_documents, fresh_adapter
from twin.demo.site import DemoSite
from twin.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]
KEY = "test-key-123"
PROMPT = "Write a LinkedIn post about schema drift in partner Parquet files"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HangingServer:
    """Accepts connections and never answers: a link that times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(client)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.sock.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, milvus: dict,
        demo_site: DemoSite) -> Iterator[dict]:
    from ray import serve

    from twin.ingest import run_ingest
    from twin.registry import Registry, hyperparameters
    from twin.serving.app import app_for
    from twin.serving.runner import APP_NAME, base_url, wait_healthy
    from twin.train.common import TrainResult
    from twin.warehouse import Warehouse

    root = tmp_path_factory.mktemp("serve")
    hanging = HangingServer()
    overrides = demo_site.settings_overrides()
    overrides["collect"]["allowed_hosts"].append(f"127.0.0.1:{hanging.port}")
    settings = Settings(
        home=root / "home", milvus={"port": milvus["port"], "collection": "t_serve"},
        serve={"api_key": KEY, "port": _free_port(), "llm_num_cpus": 1.0,
               "rag_num_cpus": 0.4, "max_body_bytes": 100_000},
        rag={"link_timeout_s": 4.0, "max_links": 5}, **overrides)
    Warehouse.from_settings(settings).merge(demo_documents())
    run_ingest(settings, full=True, show_progress=False)
    adapter = root / "adapter"
    fresh_adapter(settings, adapter)
    registry = Registry(settings)
    result = TrainResult(adapter_dir=adapter, run="fresh-lora", steps=0,
                         info={"stage": "sft", "base_model": settings.llm.base_model})
    registry.set_serving(registry.register(result, hyperparameters(settings, result, 1),
                                           "test").version)
    serve.start(http_options={"host": "127.0.0.1", "port": settings.serve.port})
    serve.run(app_for(settings), name=APP_NAME, route_prefix="/", blocking=False)
    health = wait_healthy(settings, 600)
    yield {"url": base_url(settings), "settings": settings, "health": health,
           "headers": {"Authorization": f"Bearer {KEY}"}, "site": demo_site}
    serve.shutdown()
    hanging.close()


def _post(api: dict, body: dict | str, path: str = "/v1/posts", **kwargs) -> httpx.Response:
    data = {"content": body} if isinstance(body, str) else {"json": body}
    headers = {**api["headers"], "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(api["url"] + path, headers=headers, timeout=300, **data, **kwargs)


def test_health_names_the_registered_version(api: dict) -> None:
    assert api["health"]["model_version"] == "twin-v1"
    assert api["health"]["engine"] == "transformers"
    assert api["health"]["adapter"]


def test_a_post_comes_back_with_the_authors_sources(api: dict) -> None:
    answer = _post(api, {"prompt": PROMPT, "max_words": 30, "temperature": 0})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert len(data["post"].split()) >= 5
    assert data["model_version"] == "twin-v1"
    assert 1 <= len(data["sources"]) <= 5
    assert all(s["url"].startswith("https://") and s["origin"] == "knowledge base"
               for s in data["sources"])
    assert any("Parquet" in s["title"] or "drift" in s["title"].lower()
               for s in data["sources"])
    assert data["timings"]["generate_s"] > 0 and data["timings"]["retrieve_s"] > 0


def test_streaming_yields_incremental_chunks(api: dict) -> None:
    events: list[tuple[str, dict]] = []
    with httpx.stream("POST", api["url"] + "/v1/posts/stream", headers=api["headers"],
                      json={"prompt": PROMPT, "max_words": 25, "temperature": 0},
                      timeout=300) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    tokens = [d["text"] for e, d in events if e == "token"]
    assert len(tokens) >= 3 and "".join(tokens).strip()
    assert events[0][1]["sources"] and events[-1][1]["model_version"] == "twin-v1"


def test_the_openai_client_works_against_v1(api: dict) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=api["url"] + "/v1", api_key=KEY, timeout=300)
    assert {m.id for m in client.models.list()} == {"twin", "twin-rag"}
    reply = client.chat.completions.create(
        model="twin", max_tokens=24, temperature=0,
        messages=[{"role": "user", "content": "Write one sentence about data quality."}])
    assert reply.choices[0].message.content.strip()
    assert reply.usage.completion_tokens > 0
    pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="twin-rag", max_tokens=24, temperature=0, stream=True,
        messages=[{"role": "user", "content": PROMPT}])]
    assert len([p for p in pieces if p]) >= 3


def test_links_are_fetched_refused_or_reported_and_the_post_still_comes(api: dict) -> None:
    site: DemoSite = api["site"]
    good = next(link for link in site.links() if "/posts/" in link)
    hanging = next(h for h in api["settings"].collect.allowed_hosts
                   if h not in {site.hostport(s) for s in site.servers})
    links = [good, "http://127.0.0.1:9/internal", "http://169.254.169.254/latest/meta-data/",
             f"{site.url('blog')}/no-such-post/", f"http://{hanging}/slow"]
    answer = _post(api, {"prompt": PROMPT, "links": links, "max_words": 25, "temperature": 0})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["post"].strip()
    errors = data["link_errors"]
    assert set(errors) == set(links[1:])
    assert errors[links[1]].startswith("refused") and errors[links[2]].startswith("refused")
    assert "404" in errors[links[3]]
    assert any(w in errors[links[4]].lower() for w in ("longer than", "timeout", "timed out"))
    assert any(s["origin"] == "link" and s["url"].split("?")[0] == good.split("?")[0]
               for s in data["sources"])


def test_save_links_keeps_the_material_in_the_warehouse(api: dict) -> None:
    from twin.warehouse import Warehouse

    good = next(link for link in api["site"].links() if "/pulse/" in link or "/posts/" in link)
    answer = _post(api, {"prompt": PROMPT, "links": [good], "save_links": True,
                         "max_words": 20, "temperature": 0})
    assert answer.status_code == 200, answer.text
    assert any(n.startswith("saved 1 new") for n in answer.json()["notes"]), answer.json()
    rows = Warehouse.from_settings(api["settings"]).read_table().to_pylist()
    saved = [r for r in rows if json.loads(r["metadata"]).get("origin") == "link"]
    assert len(saved) == 1 and saved[0]["author_id"] == "maya-okafor"
    assert saved[0]["url"].split("?")[0] == good.split("?")[0]


@pytest.mark.parametrize(("body", "status", "message"), [
    ('{"prompt": "unterminated', 422, "JSON"),
    ({"prompt": "   "}, 422, "the prompt is empty"),
    ({"prompt": ""}, 422, "prompt"),
    ({"prompt": "x" * 5000}, 422, "prompt"),
    ({"prompt": "ok", "links": ["file:///etc/passwd"]}, 422, "not an http(s) link"),
    ({"prompt": "ok", "max_words": 3}, 422, "max_words"),
    ({"prompt": "ok", "temperature": "hot"}, 422, "temperature"),
    ([1, 2, 3], 422, "invalid request"),
])
def test_malformed_requests_are_4xx_with_a_message(api: dict, body: dict | str, status: int,
                                                    message: str) -> None:
    answer = _post(api, body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_a_request_past_its_deadline_is_504_and_the_server_goes_on(api: dict) -> None:
    late = _post(api, {"prompt": PROMPT, "max_words": 1000, "timeout_s": 3})
    assert late.status_code == 504 and "within 3s" in late.json()["error"]["message"]
    again = _post(api, {"prompt": PROMPT, "max_words": 20, "temperature": 0})
    assert again.status_code == 200 and again.json()["post"].strip()
    # Not a speed check: had the timed-out 1,000-word generation gone on, it would hold the
    # one engine for over a minute (about 70 s here) before this short request could start.
    assert again.json()["timings"]["total_s"] < 45


def test_body_size_unknown_model_and_api_key(api: dict) -> None:
    big = _post(api, json.dumps({"prompt": "x" * 200_000}))
    assert big.status_code == 413 and "bytes" in big.json()["error"]["message"]
    unknown = _post(api, {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]},
                    path="/v1/chat/completions")
    assert unknown.status_code == 404 and "unknown model" in unknown.text
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.post(api["url"] + "/v1/posts", json={"prompt": PROMPT},
                             headers=headers, timeout=30)
        assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]
        assert httpx.get(api["url"] + "/v1/models", headers=headers,
                         timeout=30).status_code == 401
    assert httpx.get(api["url"] + "/healthz", timeout=30).status_code == 200


def test_twin_search_asks_the_running_app_and_finds_what_a_local_search_finds(
        api: dict) -> None:
    """`twin search` in a fresh process is answered by the served app (which holds the
    embedder), with the same chunks as searching in the process (`--local`); filters apply."""
    import subprocess
    import sys

    env = {**os.environ, **api["settings"].to_env()}
    twin = str(Path(sys.executable).parent / "twin")

    def search(*args: str) -> tuple[list[dict], str]:
        done = subprocess.run([twin, "search", "the partner's int64 column became a timestamp",
                               "-k", "4", "--json", *args], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout), done.stderr

    served, log = search()
    assert "answered by the Serve app" in log
    local, log = search("--local")
    assert "answered by the Serve app" not in log
    assert [h["id"] for h in served] == [h["id"] for h in local] and len(served) == 4
    repositories, _ = search("--kind", "repository")
    assert repositories and {h["kind"] for h in repositories} == {"repository"}
    table = subprocess.run([twin, "search", "schema drift", "-k", "2"], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert table.returncode == 0 and "Nearest chunks" in table.stdout
    assert "## " not in table.stdout  # snippets are text, not markdown


def test_the_dataset_teacher_path_uses_this_endpoint(api: dict) -> None:
    """Back-translation through an OpenAI-compatible endpoint: our own /v1, batched as the
    dataset stage's Ray Data step does it."""
    import pandas as pd

    from twin.datasets.instructions import add_instructions
    from twin.datasets.samples import candidates_of

    doc = next(d for d in demo_documents() if d.kind == "post")
    samples = candidates_of({"id": doc.id, "author_id": doc.author_id, "platform": "linkedin",
                             "kind": "post", "title": doc.title, "text": doc.text},
                            30, 320, 0.5)[0][:1]
    batch = pd.DataFrame([s.as_dict() for s in samples] * 2)
    teacher = {"base_url": api["url"] + "/v1", "model": "twin", "api_key": KEY,
               "timeout_s": 120}
    out = add_instructions(batch, teacher, 3)
    assert set(out["instruction_source"]) == {"teacher:twin"}
    assert all(len(i) > 3 for i in out["instruction"])
    assert list(out["answer"]) == [samples[0].answer] * 2  # the answer is never rewritten
    broken = add_instructions(batch.copy(), {**teacher, "api_key": "wrong"}, 3)
    assert set(broken["instruction_source"]) == {"offline"}  # 401: offline, with a warning


def test_the_evaluation_judge_talks_to_this_endpoint(api: dict, caplog) -> None:
    """LLM-as-judge through an OpenAI-compatible endpoint (ours): one score pair per item,
    each a 1-3 score or None when the small model's answer holds no JSON (logged)."""
    from twin.evaluate.judge import judge

    settings = api["settings"].model_copy(deep=True)
    settings.evaluate.judge_base_url = api["url"] + "/v1"
    settings.evaluate.judge_api_key = KEY
    items = [{"instruction": "Write about schema drift", "reference": "Parquet drifted.",
              "output": "Schemas drift; contracts help."}] * 2
    scores = judge(settings, items)
    assert len(scores) == 2
    for score in scores:
        assert set(score) == {"accuracy", "style"}
        assert all(v is None or 1 <= v <= 3 for v in score.values())
    settings.evaluate.judge_api_key = "wrong"
    assert judge(settings, items[:1]) == [{"accuracy": None, "style": None}]
    assert "401" in caplog.text


def test_sixteen_concurrent_clients_get_answers_or_503_never_500(api: dict) -> None:
    """A bounded load test on loopback: 16 clients, 2 short chats each, 150 s at most.
    Records the error rate and latency percentiles (tests/artifacts/serve-load.json)."""
    import statistics
    import time
    from concurrent.futures import ThreadPoolExecutor

    body = {"model": "twin", "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "One sentence on data quality."}]}
    deadline = time.monotonic() + 150

    def client(_: int) -> list[tuple[int, float]]:
        out = []
        for _ in range(2):
            if time.monotonic() > deadline:
                break
            start = time.monotonic()
            try:
                status = _post(api, body, "/v1/chat/completions").status_code
            except httpx.TimeoutException:
                status = 0
            out.append((status, time.monotonic() - start))
        return out

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [r for rows in pool.map(client, range(16)) for r in rows]
    statuses = [s for s, _ in results]
    latencies = sorted(t for s, t in results if s == 200)
    record = {"requests": len(results), "ok": statuses.count(200),
              "error_rate": round(1 - statuses.count(200) / max(len(results), 1), 3),
              "p50_s": round(statistics.median(latencies), 2) if latencies else None,
              "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies
              else None, "max_s": round(latencies[-1], 2) if latencies else None,
              "statuses": sorted(set(statuses))}
    folder = Path(__file__).resolve().parent / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / "serve-load.json").write_text(json.dumps(record, indent=2))
    print("load test:", record)
    assert len(results) >= 16
    assert all(s == 200 or s == 503 for s in statuses), record  # no 500s, no time-outs
    assert record["ok"] >= len(results) // 2, record


def _fuzz(api: dict, operation, mode) -> list[int]:
    """Statuses of up to 15 generated requests to one operation; fails on any 5xx."""
    import contextlib

    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    statuses: list[int] = []

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        response = case.call(base_url=api["url"], headers=api["headers"], timeout=120)
        statuses.append(response.status_code)
        # 503 is "unavailable, try again" (overload, a dependency down), a valid answer;
        # 500 (a crash) and the other 5xx never are.
        assert response.status_code < 500 or response.status_code == 503, (
            case.method, case.path, case.body, case.query, response.text[:300])

    with contextlib.suppress(Unsatisfiable):  # a route without parameters: nothing invalid
        call()
    return statuses


def test_fuzzing_the_openapi_spec_finds_no_server_error(api: dict) -> None:
    """schemathesis against the live /openapi.json: invalid input to every route, and valid
    input to the routes that answer without generating, never gets a 500 (or 501/502/504)."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(api["url"] + "/openapi.json")
    cheap = {"/healthz", "/v1/models", "/v1/library", "/v1/search", "/v1/model-versions"}
    checked: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.NEGATIVE] + ([GenerationMode.POSITIVE]
                                             if operation.path in cheap else [])
        for mode in modes:
            statuses = _fuzz(api, operation, mode)
            checked.append(f"{mode.value} {operation.method.upper()} {operation.path}")
            if mode is GenerationMode.NEGATIVE and statuses:
                assert any(400 <= s < 500 for s in statuses), (operation.path, statuses)
    assert "negative POST /v1/posts" in checked and "positive GET /v1/search" in checked


def test_the_api_key_never_reaches_a_log_file(api: dict) -> None:
    """Every log this session's Ray, Serve and our own code wrote is free of the key (and of
    the refused wrong key), after requests with and without it."""
    import ray

    assert _post(api, {"prompt": "x"}, headers={"Authorization": "Bearer wrong-key-456"}
                 ).status_code == 401
    logs_dir = Path(ray._private.worker._global_node.get_logs_dir_path())
    files = [p for root in (logs_dir, api["settings"].home_dir) for p in root.rglob("*")
             if p.is_file() and p.stat().st_size < 50_000_000
             and p.suffix not in {".db", ".parquet", ".safetensors", ".bin"}]
    assert len(files) > 10
    leaks = [str(p) for p in files
             if KEY.encode() in p.read_bytes() or b"wrong-key-456" in p.read_bytes()]
    assert leaks == []
