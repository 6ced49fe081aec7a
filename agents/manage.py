"""The worker's manage page ``/manage``: the same records the CLI writes (feeds, rules, acks), from a browser form."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from faust.web import Request, Response, View

from agents.common import resources, settings
from schemas import AlertAck, WatchRule, decode
from streams.alert.actions import find_rule, make_ack, with_enabled
from streams.alert.rulefile import make_rule
from streams.errors import DecodeError, FeedError, FetchError, InputError
from streams.kafka.apps import worker_app
from streams.kafka.client import compacted_state, publish
from streams.poll.check import check_feed
from streams.poll.feedlist import make_source
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.web.manage import MANAGE_CSP, ManageData, Outcome, csrf_refusal, csrf_token, render_manage

log = logging.getLogger(__name__)

#: with a web token every worker derives the same form token from it; without one (loopback only) a secret of this process
TOKEN = csrf_token(settings.web_token.get_secret_value() if settings.web_token is not None else secrets.token_urlsafe(32))


async def _decoded(topic: str, model: Any) -> dict[str, Any]:
    found = {}
    for key, value in (await compacted_state(settings, topic)).items():
        try:
            found[key] = decode(model, value)
        except DecodeError:
            log.warning("manage page: %s record %s does not decode; left out", topic, key)
    return found


async def _page(view: View, outcome: Outcome | None, status: int = 200) -> Response:
    sink = await resources.get_sink()
    rules: dict[str, WatchRule] = await _decoded("rules", WatchRule)
    acks: dict[str, AlertAck] = await _decoded("acks", AlertAck)
    data = ManageData(TOKEN, list(rules.values()), await sink.recent_alerts(20), acks, outcome)
    # same-origin, not the no-referrer of the other pages: under no-referrer a browser posts the forms with
    # "Origin: null", which the CSRF check cannot tell from another site's; the page links nowhere else
    headers = {"Content-Security-Policy": MANAGE_CSP, "Referrer-Policy": "same-origin"}
    return view.html(render_manage(data), status=status, headers=headers)


async def add_feed(url: str, title: str) -> Outcome:
    """``feeds add URL``: checked through the poller's guarded client and parser, stored with its own title."""
    try:
        source = make_source(url, title)
    except InputError as exc:
        return Outcome(False, str(exc))
    parser = ParserPool(settings.parse_timeout_seconds, 1, settings.parse_max_memory_mb)
    try:
        async with Fetcher(settings) as fetcher:
            found = await check_feed(source.url, fetcher, parser)
    except FetchError as exc:
        return Outcome(False, f"{source.url}: {exc} ({exc.kind}); not added")
    except FeedError as exc:
        return Outcome(False, f"{source.url}: {exc}; not added")
    finally:
        parser.kill()
    if found.is_page:
        return Outcome(False, f"{source.url} is a web page, not a feed; it names {len(found.found)} feed(s): add one", found.found)
    source = source.model_copy(update={"title": title or found.title})
    await publish(settings, "feeds", [(source.id, source)])
    named = f' "{source.title}"' if source.title else ""
    return Outcome(True, f"added feed {source.id} {source.url}{named}: a feed with {found.items} item(s)")


async def add_watch(form: Any) -> Outcome:
    """``watch add NAME --alias A --type T --kind K``."""
    aliases = [alias.strip() for alias in str(form.get("aliases", "")).split(",") if alias.strip()]
    kind = str(form.get("kind") or "new_mention")
    if kind not in ("new_mention", "mention"):
        return Outcome(False, f"kind {kind!r}: the page adds new_mention or mention rules (the CLI has every kind)")
    try:
        rule = make_rule(str(form.get("name", "")).strip(), aliases, str(form.get("type") or "") or None, None, kind)
    except ValueError as exc:
        return Outcome(False, str(exc))
    await publish(settings, "rules", [(rule.id, rule)])
    return Outcome(True, f"watching {rule.entity.name!r} ({rule.kind}) as rule {rule.id}")


async def switch_rule(rule_id: str, enabled: bool) -> Outcome:
    """``watch enable|disable RULE``."""
    try:
        rule = with_enabled(find_rule(await _decoded("rules", WatchRule), rule_id), enabled)
    except InputError as exc:
        return Outcome(False, str(exc))
    await publish(settings, "rules", [(rule.id, rule)])
    return Outcome(True, f"{'enabled' if enabled else 'disabled'} rule {rule.id} ({rule.entity.name!r}, {rule.kind})")


async def acknowledge(alert_id: str, note: str) -> Outcome:
    """``alerts ack ALERT_ID --note NOTE``."""
    try:
        ack = make_ack(alert_id, "dashboard", note)
    except InputError as exc:
        return Outcome(False, str(exc))
    await publish(settings, "acks", [(ack.alert_id, ack)])
    return Outcome(True, f"acknowledged alert {ack.alert_id}")


@worker_app.page("/manage")
class ManageView(View):
    """GET shows the forms; POST does one action (CSRF-checked) and shows the page with its outcome."""

    async def get(self, request: Request) -> Response:
        return await _page(self, None)

    async def post(self, request: Request) -> Response:
        headers = request.headers
        form = await request.post()
        refusal = csrf_refusal(headers.get("Host"), headers.get("Origin"), headers.get("Sec-Fetch-Site"), form.get("csrf"), TOKEN)
        if refusal is not None:
            log.warning("manage page: %s", refusal)
            return await _page(self, Outcome(False, refusal), status=403)
        action = form.get("action")
        if action == "feed":
            outcome = await add_feed(str(form.get("url", "")), str(form.get("title", "")).strip())
        elif action == "watch":
            outcome = await add_watch(form)
        elif action == "rule":
            outcome = await switch_rule(str(form.get("rule_id", "")), form.get("enabled") == "1")
        elif action == "ack":
            outcome = await acknowledge(str(form.get("alert_id", "")), str(form.get("note", "")))
        else:
            outcome = Outcome(False, f"unknown action {str(action)[:40]!r}")
        log.info("manage page: %s", outcome.message)
        return await _page(self, outcome, status=200 if outcome.ok else 400)
