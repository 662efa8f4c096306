"""The web UI against the real thing: `twin up` (Ray head, Milvus, Prefect server and worker
with the prefect.yaml deployments), the Serve app with a registered model, the demo sites.

NiceGUI's simulated ``User`` drives each page's logic; a real headless Chromium does the whole
journey (set links, collect, see it finish, write a post, see its sources) and saves a
screenshot of every page under tests/artifacts/ui/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import demo_kit, fresh_adapter
from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.settings import Settings, reset_settings_cache

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts" / "ui"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _links(site: DemoSite) -> list[str]:
    """A few of the demo author's links: a Medium profile, a LinkedIn post, her blog."""
    every = site.links()
    return [every[0], next(link for link in every if "/posts/" in link), every[-1]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, demo_site: DemoSite) -> Iterator[dict]:
    """Every service the UI talks to, on free ports, in a fresh home."""
    import ray

    from twin.registry import Registry, hyperparameters
    from twin.services import down, up
    from twin.train.common import TrainResult
    from twin.ui.profile import Profile, save_profile

    ray.shutdown()  # no in-process Ray left over from other modules
    home = tmp_path_factory.mktemp("ui") / "home"
    env = {"TWIN_HOME": str(home), "TWIN_RAY__PORT": str(_free_port()),
           "TWIN_RAY__DASHBOARD_PORT": str(_free_port()), "TWIN_RAY__NUM_CPUS": "2",
           "TWIN_MILVUS__PORT": str(_free_port()), "TWIN_PREFECT__PORT": str(_free_port()),
           "TWIN_SERVE__PORT": str(_free_port()), "TWIN_UI__PORT": str(_free_port()),
           "TWIN_UI__POLL_S": "1.0", "TWIN_SERVE__LLM_NUM_CPUS": "0.5",
           "TWIN_SERVE__RAG_NUM_CPUS": "0.25"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS", None)
    reset_settings_cache()
    settings = Settings()
    try:
        up(settings)
        fresh_adapter(settings, home / "adapter")
        registry = Registry(settings)
        # The version carries the demo author's kit: the Write page shows her voice score.
        demo_kit(home / "dataset", Settings(voice={"calibration_folds": 3,
                                                   "bootstrap_samples": 200}))
        result = TrainResult(adapter_dir=home / "adapter", run="ui-lora", steps=0,
                             info={"stage": "sft", "base_model": settings.llm.base_model,
                                   "dataset": str(home / "dataset")})
        registry.set_serving(registry.register(result, hyperparameters(settings, result, 1),
                                               "test").version)
        # As a person would: `twin serve` deploys the app on the head and returns when healthy.
        served = subprocess.run([str(BIN / "twin"), "serve"], cwd=ROOT, env={**os.environ},
                                capture_output=True, text=True, timeout=600, check=False)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "serving twin-v1 (transformers)" in served.stdout
        save_profile(Profile(author=AUTHOR_NAME, settings_overrides=demo_site.settings_overrides()),
                     settings)
        yield {"settings": settings, "env": env, "site": demo_site}
    finally:
        down(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings_cache()


@pytest.fixture
def ui_user_settings(stack: dict) -> Settings:
    """The settings the simulated pages read (the stack's, from the environment)."""
    reset_settings_cache()
    return stack["settings"]


async def test_profile_checks_links_as_typed_and_keeps_uploads(stack: dict, user,
                                                                ui_user_settings) -> None:
    from nicegui import ui

    from twin.ui.profile import load_profile, profile_path

    site: DemoSite = stack["site"]
    await user.open("/profile")
    await user.should_see("Your links")
    user.find(marker="new-link").type("medium.com/@maya")  # no scheme
    user.find(marker="add-link").click()
    await user.should_see("links start with https://")
    user.find(marker="new-link").clear().type("https://www.linkedin.com/in/maya-okafor")
    user.find(marker="add-link").click()
    await user.should_see("a LinkedIn profile needs a login")
    for link in _links(site):
        user.find(marker="new-link").clear().type(link)
        user.find(marker="add-link").click()
        await user.should_see(ui.link, content=link)
    assert load_profile(ui_user_settings).links == _links(site)

    from nicegui.elements.upload_files import SmallFileUpload

    upload = user.find(ui.upload).elements.pop()
    await upload.handle_uploads([SmallFileUpload("notes.zip", "application/zip", b"not a zip")])
    await user.should_see("not a ZIP archive")
    export = site.exports()[0]
    await upload.handle_uploads([SmallFileUpload(export.name, "application/zip",
                                                 export.read_bytes())])
    await user.should_see(export.name)
    saved = load_profile(ui_user_settings)
    assert len(saved.exports) == 1 and Path(saved.exports[0]).read_bytes() == export.read_bytes()
    assert profile_path(ui_user_settings).is_file()
    # Keep the journey's profile simple for the browser test: links only.
    saved.exports = []
    saved.links = []
    from twin.ui.profile import save_profile

    save_profile(saved, ui_user_settings)


async def test_collect_page_runs_the_deployment_and_follows_it(stack: dict, user,
                                                               ui_user_settings) -> None:
    from nicegui import ui

    from twin.ui.profile import load_profile, save_profile

    profile = load_profile(ui_user_settings)
    profile.links = [f"{stack['site'].url('blog')}/"]
    save_profile(profile, ui_user_settings)
    await user.open("/collect")
    await user.should_see("1 links, 0 export ZIPs")
    user.find(ui.checkbox).click()  # collection only: ingestion is the browser test's
    user.find("Collect now").click()
    await user.should_see("Collection started")
    state = user.find(marker="run-state").elements.pop()
    deadline = time.monotonic() + 240
    while state.text not in ("COMPLETED", "FAILED", "CRASHED") and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
    assert state.text == "COMPLETED"
    await user.should_see("Collection for maya-okafor")  # the run's Markdown artifact
    # A finished run shows a full bar.
    assert user.find(marker="run-progress").elements.pop().value == 1.0
    await user.should_see("collect: completed")
    await user.should_see("History")


async def test_pages_report_an_unreachable_api_readably(stack: dict, user, ui_user_settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_SERVE__PORT", str(_free_port()))  # nothing listens there
    reset_settings_cache()
    await user.open("/model")
    await user.should_see("does not answer: start it with `twin serve`", retries=300)
    assert len(user.find(marker="error").elements) == 1  # one readable message, no traceback
    monkeypatch.setenv("TWIN_PREFECT__PORT", str(_free_port()))
    reset_settings_cache()
    await user.open("/collect")
    await user.should_see("did not answer", retries=300)
    monkeypatch.undo()
    reset_settings_cache()


async def test_model_page_shows_versions_and_the_served_one(stack: dict, user,
                                                            ui_user_settings) -> None:
    await user.open("/model")
    from nicegui import ui

    await user.should_see("Served now: twin-v1 (transformers)", retries=600)
    rows = user.find(ui.table).elements.pop().rows
    assert [(r["version"], r["stage"], r["marked"]) for r in rows] == [(1, "sft", "serving")]
    assert rows[0]["gate"] == "not gated"  # marked by hand, never through the gate


@pytest.fixture
def keyed(stack: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """serve.api_key set: the UI must ask for it before any page."""
    monkeypatch.setenv("TWIN_SERVE__API_KEY", "ui-secret-key")
    reset_settings_cache()
    yield "ui-secret-key"
    monkeypatch.undo()
    reset_settings_cache()


async def test_with_an_api_key_every_page_asks_for_it_first(keyed: str, user) -> None:
    await user.open("/model")
    await user.should_see("API key")  # sent to /login first
    await user.should_not_see("Served now")
    assert len(user.find(marker="api-key").elements) == 1
    user.find(marker="api-key").type("not-the-key")
    user.find(marker="sign-in").click()
    await user.should_see("wrong key")
    user.find(marker="api-key").clear().type(keyed)
    user.find(marker="sign-in").click()
    await user.should_see("Served now: twin-v1 (transformers)", retries=600)


@pytest.fixture(scope="module")
def browser(stack: dict) -> Iterator[object]:
    """Headless Chromium driven by Selenium, pointed at the UI that `twin up` started."""
    from selenium import webdriver

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "make test installs Debian's chromium and chromium-driver"
    settings = stack["settings"]
    url = f"http://127.0.0.1:{settings.ui.port}"  # `twin up` started it, as the `ui` service
    assert httpx.get(url + "/profile", timeout=30).status_code == 200
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={settings.home_dir / 'chromium'}", "--window-size=1200,1000"):
        options.add_argument(flag)
    os.environ["SE_AVOID_STATS"] = "true"
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.implicitly_wait(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield {"driver": driver, "url": url}
    driver.quit()


def _wait_for(driver, condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.5)
    driver.save_screenshot(str(ARTIFACTS / f"timeout-{what}.png"))
    raise AssertionError(f"timed out waiting for {what}")


def _shoot(driver, name: str) -> None:
    driver.set_window_size(1200, 1000)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(390, 844)  # a phone
    time.sleep(0.5)
    driver.save_screenshot(str(ARTIFACTS / f"{name}-phone.png"))
    width = driver.execute_script("return document.documentElement.scrollWidth")
    driver.set_window_size(1200, 1000)
    assert width <= 400, f"{name} page is {width}px wide at a phone's 390px"


def test_the_whole_journey_in_chromium(stack: dict, browser: dict) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, url = browser["driver"], browser["url"]
    links = _links(stack["site"])
    driver.get(url + "/profile")
    field = _wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, "[data-testid=new-link]"), 20, "profile page")[0]
    for link in links:
        field.send_keys(link, Keys.ENTER)
        # Added means listed as a link and the field emptied (the typed text alone is in the
        # page at once): typing the next link any sooner would append it to this one.
        _wait_for(driver, lambda d, link=link: f'href="{link}"' in d.page_source
                  and not field.get_attribute("value"), 30, "link added")
    _shoot(driver, "profile")

    driver.get(url + "/collect")
    button = _wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=collect]"),
                       20, "collect page")[0]
    button.click()
    _wait_for(driver, lambda d: any(b.text in ("COMPLETED", "FAILED", "CRASHED") for b in
                                    d.find_elements(By.CSS_SELECTOR, "[data-testid=run-state]")),
              420, "the collection run to finish")
    state = driver.find_element(By.CSS_SELECTOR, "[data-testid=run-state]").text
    assert state == "COMPLETED", driver.page_source[-3000:]
    assert "Ingestion" in driver.page_source and "Collection for maya-okafor" in \
        driver.page_source
    _shoot(driver, "collect")

    driver.get(url + "/library")
    _wait_for(driver, lambda d: "Latest" in d.page_source, 60, "library holdings")
    box = driver.find_element(By.CSS_SELECTOR, "[data-testid=search]")
    box.send_keys("schema drift in Parquet files", Keys.ENTER)
    _wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".q-card"), 60,
              "search results")
    _shoot(driver, "library")

    driver.get(url + "/write")
    prompt = _wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, "[data-testid=prompt]"), 20, "write page")[0]
    prompt.send_keys("Write a LinkedIn post about schema drift in partner Parquet files")
    number = driver.find_element(By.CSS_SELECTOR, "input[type=number]")
    number.send_keys(Keys.CONTROL, "a")
    number.send_keys("40")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=write]").click()
    sources = _wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, "[data-testid=sources] a"), 300, "the post's sources")
    assert any(stack["site"].url("blog").split(":")[-1] in (s.get_attribute("href") or "")
               or "example" not in (s.get_attribute("href") or "") for s in sources)
    _wait_for(driver, lambda d: "twin-v1" in d.page_source, 300, "the post to finish")
    post = driver.find_element(By.CSS_SELECTOR, "[data-testid=post]").text
    assert len(post.split()) >= 5
    _shoot(driver, "write")

    driver.get(url + "/model")
    _wait_for(driver, lambda d: "Served now" in d.page_source, 60, "model page")
    _shoot(driver, "model")


# After the browser's journey the knowledge base holds the collected writing.
async def test_library_page_lists_holdings_and_searches(stack: dict, user,
                                                        ui_user_settings) -> None:
    from nicegui import ui

    await user.open("/library")
    await user.should_see("Latest", retries=600)
    table = user.find(ui.table).elements.pop()
    assert {r["platform"] for r in table.rows} >= {"medium", "linkedin", "web"}
    assert all(r["documents"] >= 1 for r in table.rows)
    user.find(marker="search").type("schema drift in Parquet files")
    user.find(marker="search-button").click()
    await user.should_see(ui.card, retries=600)
    assert len(user.find(ui.card).elements) == 5
    # Snippets are text as a reader sees it, not raw markdown.
    snippets = [label.text for label in user.find(marker="snippet").elements]
    assert len(snippets) == 5 and all(snippets)
    for text in snippets:
        assert "## " not in text and "](" not in text and "**" not in text and "\n" not in text


async def test_write_page_streams_a_post_with_sources(stack: dict, user,
                                                      ui_user_settings) -> None:
    from nicegui import ui

    await user.open("/write")
    user.find(marker="prompt").type("Write a LinkedIn post about on-call handoffs")
    user.find(marker="write").click()
    await user.should_see("twin-v1 ·", retries=3000)  # the done event: version and time
    post = user.find(marker="post").elements.pop().text
    assert len(post.split()) >= 5
    await user.should_see("Sounds like you: ")  # her voice score, with its evidence
    await user.should_see("Checks passed: ")
    links = [e for e in user.find(ui.link).elements]
    assert links and all(e.props.get("href", "").startswith("http") for e in links)
    user.find(marker="prompt").clear()  # bad input: the page says so, nothing is sent
    user.find(marker="write").click()
    await user.should_see("write a prompt first")
