"""The dashboard's manage page: add a feed, add or switch a watch, acknowledge an alert; forms guarded against CSRF."""

from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from schemas import Alert, AlertAck, WatchRule
from streams.poll.discover import FoundFeed
from streams.web.dashboard import STYLE, _csp_hash, evidence_html
from streams.web.preview import PREVIEW_KINDS

#: the kinds the page's watch form offers: the ones a name alone describes (the CLI has every option)
FORM_KINDS = ("new_mention", "mention")
#: spaCy entity types offered for a watched name
FORM_TYPES = ("", "PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT")

#: the manage page's policy: the dashboard's style, no script at all, forms posting only to this server
MANAGE_CSP = (
    f"default-src 'none'; style-src {_csp_hash(STYLE)}; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def csrf_token(secret: str) -> str:
    """The token every form carries: an HMAC of the process's secret (the web token when set, so every worker behind
    one address accepts the others' forms), never the secret itself."""
    return hmac.new(secret.encode(), b"wirewatch manage form", hashlib.sha256).hexdigest()


def csrf_refusal(host: str | None, origin: str | None, fetch_site: str | None, sent: str | None, expected: str) -> str | None:
    """Why a form post must be refused, or None: it must come from a page of this server (its ``Origin`` names the
    ``Host`` it was sent to, or without an Origin, ``Sec-Fetch-Site: same-origin``) and carry the page's token."""
    if origin is not None:
        if origin == "null" or not host or urlsplit(origin).netloc.lower() != host.lower():
            return f"cross-origin form post (Origin {origin[:100]}) refused"
    elif fetch_site != "same-origin":
        return "form post without an Origin header refused (send it from the manage page)"
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        return "the form's token is missing or stale: reload the manage page and try again"
    return None


@dataclass
class Outcome:
    """What the last action did, shown at the top of the page."""

    ok: bool
    message: str
    #: the feeds a web page names, each offered with an "add" button
    found: list[FoundFeed] = field(default_factory=list)


@dataclass
class ManageData:
    """Everything the page shows."""

    token: str
    rules: list[WatchRule]
    alerts: list[Alert]
    acks: dict[str, AlertAck]
    outcome: Outcome | None = None


def _form(action: str, token: str, fields: str, button: str, form_id: str = "") -> str:
    ident = f' id="{form_id}"' if form_id else ""
    return (
        f'<form method="post" action="manage"{ident}><input type="hidden" name="action" value="{action}">'
        f'<input type="hidden" name="csrf" value="{token}">{fields}<button type="submit">{html.escape(button)}</button></form>'
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{html.escape(value)}">'


def render_manage(data: ManageData) -> str:
    """The whole page; every value escaped."""
    e = html.escape
    outcome = ""
    if data.outcome is not None:
        kind = "ok" if data.outcome.ok else "problem"
        outcome = f'<p id="outcome" class="{kind}">{e(data.outcome.message)}</p>'
        if data.outcome.found:
            items = "".join(
                f"<li>{e(found.kind)} {e(found.url)} {e(found.title)} "
                + _form("feed", data.token, _hidden("url", found.url), "add this feed", f"pick-{number}")
                + "</li>"
                for number, found in enumerate(data.outcome.found, 1)
            )
            outcome += f'<ol id="found">{items}</ol>'
    feed_form = _form(
        "feed",
        data.token,
        '<label>feed or web page URL <input name="url" type="url" required size="50"></label> '
        '<label>title <input name="title" size="20"></label> ',
        "check and add",
        "add-feed",
    )
    kinds = "".join(f'<option value="{k}">{k}</option>' for k in FORM_KINDS)
    types = "".join(f'<option value="{t}">{t or "any type"}</option>' for t in FORM_TYPES)
    watch_form = _form(
        "watch",
        data.token,
        '<label>name <input name="name" required size="24"></label> '
        '<label>aliases (comma-separated) <input name="aliases" size="24"></label> '
        f'<label>type <select name="type">{types}</select></label> <label>kind <select name="kind">{kinds}</select></label> ',
        "watch",
        "add-watch",
    )
    rules = (
        "".join(
            f"<tr><td>{e(rule.entity.name)}</td><td>{e(rule.kind)}</td><td>{'on' if rule.enabled else 'off'}</td><td>"
            # what the rule would have sent over the last week's stored articles (the CLI's `watch test`)
            + (f'<a href="watch/{e(rule.id)}/preview?since=7d">preview 7 days</a> ' if rule.kind in PREVIEW_KINDS else "")
            + _form(
                "rule",
                data.token,
                _hidden("rule_id", rule.id) + _hidden("enabled", "0" if rule.enabled else "1"),
                "disable" if rule.enabled else "enable",
                f"rule-{rule.id[:12]}",
            )
            + "</td></tr>"
            for rule in sorted(data.rules, key=lambda r: (r.entity.name.lower(), r.kind))
        )
        or '<tr><td colspan="4" class="empty">no watch rules</td></tr>'
    )
    alerts = (
        "".join(
            f"<tr><td>{e(alert.detected.strftime('%Y-%m-%d %H:%M'))}</td><td>{e(alert.entity_name)}</td>"
            f'<td><blockquote class="evidence">{evidence_html(alert.evidence)}</blockquote></td><td>'
            + (
                f'<span class="acked">acknowledged {e(data.acks[alert.id].acknowledged.strftime("%Y-%m-%d %H:%M"))} UTC '
                f"({e(data.acks[alert.id].by)}) {e(data.acks[alert.id].note)}</span>"
                if alert.id in data.acks
                else _form(
                    "ack",
                    data.token,
                    _hidden("alert_id", alert.id) + '<input name="note" placeholder="note (optional)" size="16" maxlength="500"> ',
                    "acknowledge",
                    f"ack-{alert.id[:12]}",
                )
            )
            + "</td></tr>"
            for alert in data.alerts
        )
        or '<tr><td colspan="4" class="empty">no alerts yet</td></tr>'
    )
    return MANAGE_PAGE.format(style=STYLE, outcome=outcome, feed_form=feed_form, watch_form=watch_form, rules=rules, alerts=alerts)


MANAGE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Wirewatch: manage</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body>
<h1>Wirewatch: manage</h1><p><a href="dashboard">back to the dashboard</a></p>
{outcome}
<h2>Add a feed</h2><p>Checked first, as <code>wirewatch feeds add</code> checks it; a web page lists the feeds it names.</p>
{feed_form}
<h2>Add a watch</h2>{watch_form}
<h2>Watch rules</h2><table id="rules"><tr><th>name</th><th>kind</th><th>alerts</th><th></th></tr>{rules}</table>
<h2>Recent alerts</h2><table id="manage-alerts"><tr><th>detected (UTC)</th><th>entity</th><th>evidence</th><th></th></tr>{alerts}</table>
</body></html>
"""
