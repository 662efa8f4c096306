"""The web UI under hostile input (issue 13, part D), without `twin up`.

Pages run in NiceGUI's simulated ``User`` against a tiny HTTP server on 127.0.0.1 that stands
in for the twin's API and Prefect's (recorded answer shapes, with hostile URLs in them). The
upload route and the socket route are attacked with raw HTTP against a real `twin ui` process
(a temporary home, an API key set), whose browser session is made the way the UI makes one:
a signed session cookie and the server-side user storage that says it gave the key.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from base64 import b64encode
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from twin.settings import Settings, reset_settings_cache

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOSTILE = "javascript:alert(document.cookie)"
KEY = "ui-secret-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Articles/Articles/post.html", "<html><body>hello</body></html>")
    return buffer.getvalue()


# The stand-in API --------------------------------------------------------------------------
RUN = {"id": "run-1", "name": "hostile-run", "state": {"type": "COMPLETED", "message": ""},
       "created": "2026-01-01T00:00:00", "parameters": {}}
SUMMARY = ("## Collection for maya-okafor\n\n[click me](javascript:alert(1)) and "
           "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)\n\n"
           "<script>alert(2)</script><style>body{display:none}</style>\n\n"
           '<a href="javascript:alert(3)" onclick="alert(4)">raw link</a> '
           '<img src="x" onerror="alert(5)">\n\n[a fine link](https://example.org/ok)\n')
ANSWERS: dict[tuple[str, str], Any] = {
    ("GET", "/v1/library"): {
        "platforms": [{"platform": "web", "documents": 2, "first": "2026-01-01",
                       "last": "2026-01-02", "chars": 1234}],
        "documents": [{"platform": "web", "title": "Hostile post", "url": HOSTILE},
                      {"platform": "web", "title": "Fine post",
                       "url": "https://example.org/fine"}]},
    ("GET", "/v1/search"): {"hits": [
        {"platform": "web", "title": "Hostile hit", "url": " JavaScript:alert(1)",
         "score": 0.9, "text": "some text"},
        {"platform": "web", "title": "Fine hit", "url": "https://example.org/hit",
         "score": 0.8, "text": "more text"}]},
    ("POST", "/api/flow_runs/filter"): [RUN],
    ("GET", "/api/flow_runs/run-1"): RUN,
    ("POST", "/api/task_runs/filter"): [],
    ("POST", "/api/artifacts/filter"): [{"type": "markdown", "data": SUMMARY}],
    ("POST", "/api/logs/filter"): [],
}
STREAM = [("sources", {"sources": [
    {"platform": "web", "title": "Hostile source", "url": HOSTILE, "score": 0.9,
     "origin": "link"},
    {"platform": "web", "title": "Data source", "url": "data:text/html,<script>x</script>",
     "score": 0.8},
    {"platform": "web", "title": "Fine source", "url": "https://example.org/src",
     "score": 0.7}], "link_errors": {}, "notes": []}),
    ("token", {"text": "A short post."}),
    ("done", {"model_version": "twin-v1", "timings": {"generate_s": 0.1}})]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _reply(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if (method, path) == ("POST", "/v1/posts/stream"):
            body = "".join(f"event: {event}\ndata: {json.dumps(data)}\n\n"
                           for event, data in STREAM).encode()
            kind = "text/event-stream"
        elif (method, path) in ANSWERS:
            body, kind = json.dumps(ANSWERS[(method, path)]).encode(), "application/json"
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._reply("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._reply("POST")


@pytest.fixture(scope="module")
def fake_api() -> Iterator[int]:
    """The stand-in for the twin's API and Prefect's, on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def ui_env(tmp_path: Path, fake_api: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings the simulated pages read: a fresh home, the stand-in API, no key."""
    monkeypatch.setenv("TWIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWIN_SERVE__HOST", "127.0.0.1")
    monkeypatch.setenv("TWIN_SERVE__PORT", str(fake_api))
    monkeypatch.setenv("TWIN_PREFECT__API_URL", f"http://127.0.0.1:{fake_api}/api")
    monkeypatch.delenv("TWIN_SERVE__API_KEY", raising=False)
    reset_settings_cache()
    yield Settings()
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture
def page_user(ui_env: Settings, user):
    """The simulated user, created after the environment it reads."""
    return user


def _hrefs(user) -> list[str]:
    from nicegui import ui

    return [e.props.get("href", "") for e in user.find(ui.link).elements]


# Finding 5: only http(s) URLs become links ----------------------------------------------------
@pytest.mark.parametrize("url", [
    HOSTILE, "JAVASCRIPT:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "\x01javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x",
    "//evil.example/", "/relative", "http:/x", "https://", "http://[::1/", "http:\\\\evil",
    "https://exa mple.org/", None, 42, ""])
def test_non_http_urls_are_not_links(url: Any) -> None:
    from twin.ui.safe import http_url

    assert http_url(url) is None


@pytest.mark.parametrize("url", ["https://example.org/a?b=c#d", "HTTP://Example.org",
                                 "http://127.0.0.1:8080/x", "https://user@example.org/"])
def test_http_urls_are_links(url: str) -> None:
    from twin.ui.safe import http_url

    assert http_url(url) == url


def test_markdown_html_keeps_text_and_http_links_only() -> None:
    import markdown2

    from twin.ui.safe import sanitize_html

    html = sanitize_html(markdown2.markdown(SUMMARY, extras=["fenced-code-blocks", "tables"]))
    assert 'href="https://example.org/ok"' in html
    for active in ("javascript:", "data:", "<script", "alert(2)", "<style", "display:none",
                   "onclick", "onerror", "<img"):
        assert active not in html, active
    assert "click me" in html and "raw link" in html  # the text stays, as text


async def test_library_page_renders_hostile_urls_as_text(page_user) -> None:
    await page_user.open("/library")
    await page_user.should_see("Latest", retries=200)
    await page_user.should_see("Hostile post")
    assert _hrefs(page_user) == ["https://example.org/fine"]
    page_user.find(marker="search").type("drift")
    page_user.find(marker="search-button").click()
    await page_user.should_see("Fine hit", retries=200)
    await page_user.should_see("Hostile hit")
    assert all(h.startswith("https://") for h in _hrefs(page_user))
    assert "https://example.org/hit" in _hrefs(page_user)


async def test_write_page_renders_hostile_sources_as_text(page_user) -> None:
    await page_user.open("/write")
    page_user.find(marker="prompt").type("a post")
    page_user.find(marker="write").click()
    await page_user.should_see("twin-v1 ·", retries=200)
    await page_user.should_see("Hostile source")
    await page_user.should_see("Data source")
    assert _hrefs(page_user) == ["https://example.org/src"]


async def test_collect_page_markdown_is_inert(page_user) -> None:
    from nicegui import ui

    await page_user.open("/collect")
    await page_user.should_see("hostile-run", retries=200)
    page_user.find("watch").click()
    await page_user.should_see(ui.markdown, retries=200)
    (summary,) = page_user.find(ui.markdown).elements
    html = summary.props["innerHTML"]
    assert 'href="https://example.org/ok"' in html and "click me" in html
    for active in ("javascript:", "data:", "<script", "onclick", "onerror", "<img"):
        assert active not in html, active


async def test_profile_page_renders_a_stored_non_http_link_as_text(
        page_user, ui_env: Settings) -> None:
    from twin.ui.profile import Profile, save_profile

    save_profile(Profile(author="Maya", links=[HOSTILE, "https://example.org/blog"]), ui_env)
    await page_user.open("/profile")
    await page_user.should_see(HOSTILE)
    assert _hrefs(page_user) == ["https://example.org/blog"]


# Finding 1: the login redirects only within its own origin ------------------------------------
@pytest.mark.parametrize("target", [
    "//evil.example/", "///evil.example/", "/\\evil.example/", "\\\\evil.example",
    "https://evil.example/", "javascript:alert(1)", "/%2F%2Fevil.example/",
    "/%252F%252Fevil.example/", "/%5Cevil.example", "/\t/evil.example", "/\n/evil.example",
    "evil.example", "", None, "%2F%2Fevil.example", "/%25252525252F/x"])
def test_redirect_targets_off_origin_go_home(target: Any) -> None:
    from twin.ui.safe import same_origin_path

    assert same_origin_path(target) == "/"


@pytest.mark.parametrize("target", ["/", "/library", "/write?x=1&y=%20z", "/a%2Fb"])
def test_redirect_targets_on_origin_are_kept(target: str) -> None:
    from twin.ui.safe import same_origin_path

    assert same_origin_path(target) == target


@pytest.fixture
def keyed_env(ui_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """serve.api_key set: the UI asks for it first."""
    monkeypatch.setenv("TWIN_SERVE__API_KEY", KEY)
    reset_settings_cache()
    yield KEY
    reset_settings_cache()


async def test_login_does_not_follow_a_redirect_to_another_host(keyed_env: str, user) -> None:
    # A closed port on loopback stands for "another host": following it would fail loudly.
    await user.open(f"/login?redirect_to=//127.0.0.1:{_free_port()}/")
    user.find(marker="api-key").type(keyed_env)
    user.find(marker="sign-in").click()
    await user.should_see("Your links", retries=200)  # "/" sends a new profile to /profile
    assert user.back_history[1:] == ["/", "/profile"]  # never to the other host


# Finding 4: very long upload names ------------------------------------------------------------
def test_a_very_long_upload_name_is_stored_under_a_short_one(ui_env: Settings) -> None:
    from twin.ui.profile import MAX_STORED_NAME_BYTES, store_upload, stored_name

    name = "é" * 200 + "x" * 300 + ".zip"
    data = _zip_bytes()  # once: a ZIP records the time it was made
    path = store_upload(name, data, ui_env)
    assert path.read_bytes() == data
    assert path.name.endswith(".zip") and len(path.name.encode()) <= MAX_STORED_NAME_BYTES
    assert stored_name(name + "!") != stored_name(name)  # a hash of the whole name
    assert stored_name("../../etc/passwd.zip") == "passwd.zip"
    assert stored_name("..\\..\\x.zip") == "x.zip"
    assert stored_name("...zip") == "zip"


def test_an_upload_that_cannot_be_stored_is_a_readable_error(ui_env: Settings) -> None:
    from twin.ui.profile import store_upload, uploads_dir

    uploads_dir(ui_env).parent.mkdir(parents=True)
    uploads_dir(ui_env).write_text("a file where the uploads folder should be")
    with pytest.raises(ValueError, match="could not be stored"):
        store_upload("export.zip", _zip_bytes(), ui_env)


async def test_profile_page_takes_an_upload_with_a_very_long_name(page_user,
                                                                   ui_env: Settings) -> None:
    from nicegui import ui
    from nicegui.elements.upload_files import SmallFileUpload

    from twin.ui.profile import load_profile

    await page_user.open("/profile")
    upload = page_user.find(ui.upload).elements.pop()
    name = "linkedin-" + "x" * 400 + ".zip"
    data = _zip_bytes()  # once: a ZIP records the time it was made
    await upload.handle_uploads([SmallFileUpload(name, "application/zip", data)])
    await page_user.should_see("uploaded", retries=100)  # a loaded machine is slower
    (stored,) = load_profile(ui_env).exports
    assert Path(stored).read_bytes() == data


# Findings 2 and 3: the upload route, against a real `twin ui` ---------------------------------
def _session_cookie(secret: str, session_id: str) -> str:
    """The cookie Starlette's SessionMiddleware signs for a session (as the browser holds)."""
    import itsdangerous

    data = b64encode(json.dumps({"id": session_id}).encode())
    return itsdangerous.TimestampSigner(secret).sign(data).decode()


@pytest.fixture(scope="module")
def served_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`twin ui` with an API key, a known storage secret and a 200 kB upload limit; one
    browser session that has signed in (and one that has too, but is someone else's)."""
    home = tmp_path_factory.mktemp("ui-security")
    storage = home / "nicegui"
    storage.mkdir()
    secret, port = "test-storage-secret", _free_port()
    sessions = {"owner": str(uuid.uuid4()), "other": str(uuid.uuid4())}
    for session_id in sessions.values():
        (storage / f"storage-user-{session_id}.json").write_text('{"authenticated": true}')
    # Not "under pytest" (NiceGUI would pick its test port), nothing of this run's settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TWIN_"))}
    env |= {"TWIN_HOME": str(home / "home"), "TWIN_SERVE__API_KEY": KEY,
           "TWIN_UI__PORT": str(port), "TWIN_UI__HOST": "127.0.0.1",
           "TWIN_UI__STORAGE_SECRET": secret, "TWIN_UI__MAX_UPLOAD_BYTES": "200000",
           "NICEGUI_STORAGE_PATH": str(storage), "PYTHONPATH": str(ROOT)}
    log = (home / "ui.log").open("w")
    proc = subprocess.Popen([str(BIN / "twin"), "ui"], cwd=home, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "ui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "twin ui did not start"
            time.sleep(0.3)
        yield {"url": url, "port": port, "home": home / "home",
               "cookies": {k: _session_cookie(secret, v) for k, v in sessions.items()}}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _profile_page(ui: dict, who: str = "owner") -> tuple[str, str]:
    """Load the Profile page as a signed-in browser would: (its client id, its upload URL)."""
    page = httpx.get(ui["url"] + "/profile", cookies={"session": ui["cookies"][who]},
                     timeout=30, follow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    found = re.search(r"/_nicegui/client/([0-9a-f-]{36})/upload/\d+", page.text)
    assert found, "the Profile page has an upload element"
    return found[1], found[0]


def _uploads(ui: dict) -> list[str]:
    folder = ui["home"] / "ui" / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_upload_route_checks_the_session(served_ui: dict) -> None:
    _, upload = _profile_page(served_ui)
    files = {"file": ("anonymous.zip", _zip_bytes(), "application/zip")}
    anonymous = httpx.post(served_ui["url"] + upload, files=files, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    someone_else = httpx.post(served_ui["url"] + upload, files=files, timeout=30,
                              cookies={"session": served_ui["cookies"]["other"]})
    assert someone_else.status_code == 403, someone_else.text
    assert "anonymous.zip" not in _uploads(served_ui)
    owner = httpx.post(served_ui["url"] + upload, timeout=30,
                       files={"file": ("mine.zip", _zip_bytes(), "application/zip")},
                       cookies={"session": served_ui["cookies"]["owner"]})
    assert owner.status_code == 200, owner.text
    assert "mine.zip" in _uploads(served_ui)


def test_pages_and_unknown_routes_need_the_session(served_ui: dict) -> None:
    url = served_ui["url"]
    for path in ("/profile", "/", "/loginx", "/_nicegui/client/x/upload/1"):
        answer = httpx.get(url + path, timeout=30, follow_redirects=False)
        assert answer.status_code == 307, (path, answer.status_code)
        assert answer.headers["location"].startswith("/login?redirect_to="), path
    for path in ("/profile", "/_nicegui/client/x/upload/1"):
        assert httpx.post(url + path, timeout=30).status_code == 401, path


def test_a_socket_only_attaches_to_its_own_sessions_page(served_ui: dict) -> None:
    client_id, _ = _profile_page(served_ui)
    socket_url = (f"{served_ui['url']}/_nicegui_ws/socket.io/?client_id={client_id}"
                  "&EIO=4&transport=polling")
    assert httpx.get(socket_url, timeout=30).status_code == 403
    assert httpx.get(socket_url, timeout=30,
                     cookies={"session": served_ui["cookies"]["other"]}).status_code == 403
    mine = httpx.get(socket_url, timeout=30, cookies={"session": served_ui["cookies"]["owner"]})
    assert mine.status_code == 200 and '"sid"' in mine.text


def _raw_upload(ui: dict, upload: str, headers: str, chunks: list[bytes]) -> bytes:
    """Send an upload request byte by byte (headers, then body chunks, stopping if the server
    hangs up) and return what the server answered within 10 s."""
    with socket.create_connection(("127.0.0.1", ui["port"]), timeout=10) as conn:
        conn.sendall((f"POST {upload} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Cookie: session={ui['cookies']['owner']}\r\n"
                      "Content-Type: multipart/form-data; boundary=XyZ\r\n"
                      f"{headers}\r\n").encode())
        try:
            for chunk in chunks:
                conn.sendall(chunk)
                time.sleep(0.01)
        except OSError:  # the server refused and hung up: what it answered is still there
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        except TimeoutError:
            pass
        return answer


def test_an_upload_is_refused_at_its_declared_length(served_ui: dict) -> None:
    _, upload = _profile_page(served_ui)
    started = time.monotonic()
    # 20 MB announced, not a byte of it sent: the answer comes before the body.
    answer = _raw_upload(served_ui, upload, "Content-Length: 20000000\r\n", [])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


def test_a_chunked_upload_is_refused_when_it_passes_the_limit(served_ui: dict) -> None:
    _, upload = _profile_page(served_ui)
    preamble = (b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n'
                b"Content-Type: application/zip\r\n\r\n")
    piece = b"x" * 65536
    body = [preamble] + [piece] * 8  # ~524 kB against a 200 kB limit (+64 kB framing)
    chunks = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in body]  # never terminated
    answer = _raw_upload(served_ui, upload, "Transfer-Encoding: chunked\r\n", chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert "big.zip" not in _uploads(served_ui)


CLIENT_ID = re.compile(r"""["']?client_id["']?\s*:\s*["']([0-9a-f-]{36})""")


def _page_elements(html: str) -> dict[str, dict]:
    """The elements a NiceGUI page ships to the browser (id -> element), as its script reads
    them."""
    raw = re.search(r"parseElements\(String\.raw`(.*?)`\)", html, re.DOTALL)
    assert raw, "a NiceGUI page"
    text = raw[1]
    for escaped, plain in (("&#36;", "$"), ("&#96;", "`"), ("&gt;", ">"), ("&lt;", "<"),
                           ("&amp;", "&")):
        text = text.replace(escaped, plain)
    return json.loads(text)


def _listener(elements: dict[str, dict], testid: str, kind: str) -> tuple[int, str]:
    for element_id, element in elements.items():
        if (element.get("props") or {}).get("data-testid") == testid:
            for event in element.get("events") or []:
                if event["type"] == kind:
                    return int(element_id), event["listener_id"]
    raise AssertionError(f"no {kind} listener on {testid}")


async def _socket(ui: dict, client_id: str, cookie: str) -> Any:
    """A browser's socket to one page (NiceGUI's query: its page, tab and document)."""
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    query = (f"client_id={client_id}&tab_id={uuid.uuid4()}&document_id={uuid.uuid4()}"
             "&implicit_handshake=true&next_message_id=0")
    await sio.connect(f"{ui['url']}?{query}", socketio_path="/_nicegui_ws/socket.io",
                      headers={"Cookie": f"session={cookie}"}, transports=["websocket"],
                      wait_timeout=10)
    return sio


async def test_a_socket_cannot_act_for_another_page(served_ui: dict) -> None:
    import asyncio

    page = httpx.get(served_ui["url"] + "/profile", timeout=30,
                     cookies={"session": served_ui["cookies"]["owner"]})
    victim_id = CLIENT_ID.search(page.text)
    assert victim_id, page.text[-3000:]
    elements = _page_elements(page.text)
    field, typed = _listener(elements, "new-link", "update:value")
    button, clicked = _listener(elements, "add-link", "click")
    victim = await _socket(served_ui, victim_id[1], served_ui["cookies"]["owner"])
    # The attacker's own, legitimate socket: the sign-in page of a session of their own.
    login = httpx.get(served_ui["url"] + "/login", timeout=30)
    attacker_id = CLIENT_ID.search(login.text)
    assert attacker_id and "session" in login.cookies
    attacker = await _socket(served_ui, attacker_id[1], login.cookies["session"])
    try:
        for element_id, listener, args in ((field, typed, [json.dumps("https://evil.example/x")]),
                                           (button, clicked, [])):
            await attacker.emit("event", {"id": element_id, "client_id": victim_id[1],
                                          "listener_id": listener, "args": args})
        await asyncio.sleep(1.5)
    finally:
        await attacker.disconnect()
        await victim.disconnect()
    profile = served_ui["home"] / "ui" / "profile.json"
    assert not profile.is_file() or "evil.example" not in profile.read_text()


async def test_login_goes_back_to_the_page_that_asked(keyed_env: str, user) -> None:
    await user.open("/library")  # the gate sends an anonymous browser to sign in first
    await user.should_see("API key")
    user.find(marker="api-key").type(keyed_env)
    user.find(marker="sign-in").click()
    await user.should_see("Latest", retries=200)
    assert user.back_history[-1] == "/library"
