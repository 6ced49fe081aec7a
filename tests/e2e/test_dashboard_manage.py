"""The dashboard's manage page in headless Chromium (Selenium): add a feed (checked, a web page's feeds offered), add and
disable a watch, acknowledge an alert; each writes the record the CLI writes; forms from elsewhere are refused."""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import Alert
from streams import ids
from streams.config import Settings
from streams.kafka.client import compacted_state, publish
from tests.conftest import free_port
from tests.e2e.helpers import FeedServer, cli, http_get, stack_env, start, stop, wait_for
from tests.integration.test_feeds_add_check import FIXTURES, JSON_FEED, PAGE

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(600)]

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


def replaced(element: Any) -> Any:
    """A wait condition: the page holding `element` has gone. Chromium reports an element of a page that is being
    torn down either as stale or, mid-navigation, as an inspector error about a node outside the document; both mean
    the old page is gone (Selenium's own `staleness_of` knows only the first)."""

    def gone(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" not in str(error):
                raise
            return True
        return False

    return gone


def state(settings: Settings, topic: str) -> dict[str, dict[str, Any]]:
    return {key: orjson.loads(value) for key, value in asyncio.run(compacted_state(settings, topic)).items()}


def an_alert() -> Alert:
    now = datetime.now(tz=UTC)
    return Alert(
        id="alert-manage-1", rule_id="rule-x", kind="new_mention", entity_id="e1", entity_name="Marta Kowalczyk",
        article_id="a1", title="Lindenport mayor to visit Brussels", url="https://news.example/a1", feed_id="f1",
        sentence="Marta Kowalczyk will travel to Brussels.", evidence="**Marta Kowalczyk** will travel to Brussels.",
        story_id="s1", fetched=now, detected=now, latency_seconds=1.5,
    )  # fmt: skip


@pytest.fixture
def stack(kafka_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], FeedServer]]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("no Chromium and chromedriver: `make browser-tool` installs Debian's (the test target runs it)")
    feeds = FeedServer({"/valley.xml": (FIXTURES / "valley-news.xml").read_bytes(), "/harbour.json": JSON_FEED, "/": PAGE})
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_ALERT_DESTINATIONS": ""})
    worker = start("worker", env, tmp_path / "worker.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for("the worker's manage page", lambda: http_get(f"{base}/manage")[0] == 200, 240, processes=[worker])
        asyncio.run(publish(kafka_settings, "alerts", [("alert-manage-1", an_alert())]))
        wait_for("the alert stored", lambda: b"alert-manage-1" in http_get(f"{base}/manage")[1], 120, processes=[worker])
        yield base, env, feeds
    finally:
        stop(worker)
        feeds.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1200",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    yield driver
    driver.quit()


def test_manage_page_in_headless_chromium(
    kafka_settings: Settings, stack: tuple[str, dict[str, str], FeedServer], browser: Any, tmp_path: Path
) -> None:
    base, env, feeds = stack
    shots = tmp_path / "screenshots"  # test artifacts, never committed
    shots.mkdir()

    def outcome() -> str:
        return str(browser.find_element(By.ID, "outcome").text)

    def submit(element: Any) -> None:
        """Click a form's button (or a link) and wait until the next page has replaced this one: reading the
        outcome before that finds the old page's element, stale once the new page loads."""
        page = browser.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(browser, 120).until(replaced(page))
        WebDriverWait(browser, 120).until(lambda driver: driver.execute_script("return document.readyState") == "complete")

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))
        assert (shots / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    browser.get(f"{base}/dashboard")
    submit(browser.find_element(By.LINK_TEXT, "add feeds and watches, acknowledge alerts"))
    assert browser.title == "Wirewatch: manage"
    shot("manage")

    # a web page, not a feed: its feeds are offered, nothing is added until one is picked
    form = browser.find_element(By.ID, "add-feed")
    form.find_element(By.NAME, "url").send_keys(feeds.url("/"))
    submit(form.find_element(By.TAG_NAME, "button"))
    assert f"{feeds.url('/')} is a web page, not a feed; it names 2 feed(s)" in outcome()
    shot("web-page")
    assert ids.feed_id(feeds.url("/valley.xml")) not in state(kafka_settings, "feeds")
    submit(browser.find_element(By.ID, "pick-1").find_element(By.TAG_NAME, "button"))
    assert "a feed with 2 item(s)" in outcome() and "added feed" in outcome()
    stored = state(kafka_settings, "feeds")[ids.feed_id(feeds.url("/valley.xml"))]
    assert stored["url"] == feeds.url("/valley.xml") and stored["title"] == "Valley News (Wirewatch test fixture)"

    # a 404 is named and not added
    form = browser.find_element(By.ID, "add-feed")
    form.find_element(By.NAME, "url").send_keys(feeds.url("/missing.xml"))
    submit(form.find_element(By.TAG_NAME, "button"))
    assert "HTTP 404 Not Found (http_status); not added" in outcome()
    assert ids.feed_id(feeds.url("/missing.xml")) not in state(kafka_settings, "feeds")

    # a watch, as `watch add "Daniel Okafor" --alias Okafor --type PERSON` writes it
    form = browser.find_element(By.ID, "add-watch")
    form.find_element(By.NAME, "name").send_keys("Daniel Okafor")
    form.find_element(By.NAME, "aliases").send_keys("Okafor, D. Okafor")
    form.find_element(By.CSS_SELECTOR, "select[name=type] option[value=PERSON]").click()
    submit(form.find_element(By.TAG_NAME, "button"))
    assert "watching 'Daniel Okafor' (new_mention) as rule" in outcome()
    rules = state(kafka_settings, "rules")
    (rule_id,) = rules
    assert rules[rule_id]["entity"] == {"name": "Daniel Okafor", "aliases": ["Okafor", "D. Okafor"], "type": "PERSON", "wikidata": None,
                                        "schema_version": 1}  # fmt: skip
    assert rules[rule_id]["enabled"] is True
    cli_rule = cli(env, "watch", "list", "--json")
    assert [rule["id"] for rule in orjson.loads(cli_rule.stdout)] == [rule_id]

    # ... disabled from its row, and enabled again by the CLI: the same record either way
    submit(browser.find_element(By.ID, f"rule-{rule_id[:12]}").find_element(By.TAG_NAME, "button"))
    assert f"disabled rule {rule_id}" in outcome()
    assert state(kafka_settings, "rules")[rule_id]["enabled"] is False
    shot("rule-disabled")
    enabled = cli(env, "watch", "enable", rule_id[:12])
    assert enabled.returncode == 0 and f"enabled rule {rule_id}" in enabled.stdout
    assert state(kafka_settings, "rules")[rule_id] == {**rules[rule_id], "enabled": True}

    # an alert acknowledged with a note
    form = browser.find_element(By.ID, "ack-alert-manage")
    form.find_element(By.NAME, "note").send_keys("seen, calling the desk")
    submit(form.find_element(By.TAG_NAME, "button"))
    assert "acknowledged alert alert-manage-1" in outcome()
    ack = state(kafka_settings, "acks")["alert-manage-1"]
    assert (ack["alert_id"], ack["by"], ack["note"]) == ("alert-manage-1", "dashboard", "seen, calling the desk")
    assert "acknowledged" in browser.find_element(By.ID, "manage-alerts").text
    shot("acknowledged")
    by_cli = cli(env, "alerts", "ack", "alert-manage-1", "--note", "again")
    assert by_cli.returncode == 0
    again = state(kafka_settings, "acks")["alert-manage-1"]
    assert set(again) == set(ack) and (again["by"], again["note"]) == ("cli", "again")
    print(f"screenshots: {sorted(p.name for p in shots.iterdir())} in {shots}")


def post(url: str, fields: dict[str, str], headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback test URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_forms_from_elsewhere_are_refused(kafka_settings: Settings, stack: tuple[str, dict[str, str], FeedServer]) -> None:
    base, _env, _feeds = stack
    page = http_get(f"{base}/manage")[1].decode()
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    ack = {"action": "ack", "alert_id": "alert-manage-1", "csrf": token}
    host = base.removeprefix("http://")
    # another site's page posting to this one (its Origin), a post with no Origin nor Sec-Fetch-Site, a missing token
    assert post(f"{base}/manage", ack, {"Origin": "http://evil.example"}) == 403
    assert post(f"{base}/manage", ack, {"Origin": "null"}) == 403
    assert post(f"{base}/manage", ack, {}) == 403
    assert post(f"{base}/manage", {**ack, "csrf": "0" * 64}, {"Origin": f"http://{host}"}) == 403
    assert state(kafka_settings, "acks") == {}, "a refused form writes nothing"
    assert post(f"{base}/manage", ack, {"Origin": f"http://{host}"}) == 200
    assert state(kafka_settings, "acks")["alert-manage-1"]["by"] == "dashboard"
