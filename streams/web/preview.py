"""Watch previews: what a rule would have sent over the sink's stored articles (``watch test``, ``--try``, the dashboard).

The articles are read back from the sink in time order and go through the workers' code path: the enrich step (spaCy
and the gazetteer) and the mention rules of :class:`~streams.alert.simulation.Simulation`, in the stories the story
stage stored for them. Only articles whose text holds one of the rule's names are enriched again (the gazetteer is the
only way a mention gets a rule), so a preview over a week costs NLP for the few articles that name the rule.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from schemas import Alert, Article, WatchRule
from streams.alert.mentions import mention_time
from streams.alert.simulation import Simulation
from streams.clock import human_duration
from streams.enrich.gazetteer import Watchlist
from streams.errors import QueryError
from streams.store.base import Sink
from streams.store.queries import StoredWindow

#: the rule kinds a preview can run: those evaluated on mentions (event rules need the event groups, breaking rules
#: the story states of every article)
PREVIEW_KINDS = ("new_mention", "mention", "co_mention", "spike")
#: articles per spaCy batch, as ``wirewatch simulate`` takes them
BATCH = 16

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PreviewAlert:
    """One alert a rule would have sent: its latest state (the story's earliest article, every source so far)."""

    alert: Alert
    #: the story's headline (the article's title when the sink has no story for it)
    headline: str
    #: the story's last stored article is within the story window of now: the worker may still add to it
    open: bool

    @property
    def time(self) -> datetime:
        return self.alert.published or self.alert.fetched


@dataclass(frozen=True)
class Preview:
    """What a rule would have sent over ``since``..``until``, and what it was read from."""

    rule: WatchRule
    since: datetime
    until: datetime
    #: stored articles in the window
    stored: int
    #: of them, those whose text holds one of the rule's names (enriched again)
    naming: int
    alerts: list[PreviewAlert]

    def summary(self) -> str:
        """One line: how many alerts over how long from how many stored articles."""
        span = human_duration((self.until - self.since).total_seconds())
        return (
            f"{len(self.alerts)} alert(s) over {span} from {self.stored} stored article(s), {self.naming} naming {self.rule.entity.name!r}"
        )

    def why_empty(self) -> str | None:
        """Why the preview found nothing, in words; None when it found alerts."""
        if self.alerts:
            return None
        span = human_duration((self.until - self.since).total_seconds())
        if self.stored == 0:
            return f"no stored article in the last {span}: nothing to try the rule on (is the worker storing articles?)"
        if self.naming == 0:
            return f"{self.stored} stored article(s) in the last {span}, none naming {' or '.join(map(repr, names(self.rule)))}"
        return (f"{self.naming} of {self.stored} stored article(s) name {self.rule.entity.name!r}, but none would alert under "
                f"this rule ({self.rule.kind}: a gate, the look-back or the rule's other condition holds it back)")  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.model_dump(mode="json", exclude={"destinations"}),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "stored": self.stored,
            "naming": self.naming,
            "summary": self.summary(),
            "why_empty": self.why_empty(),
            "alerts": [
                {"headline": p.headline, "open": p.open, "alert": p.alert.model_dump(mode="json", exclude={"destinations"})}
                for p in self.alerts
            ],  # fmt: skip
        }


def names(rule: WatchRule) -> list[str]:
    """The names the gazetteer finds for ``rule``: its entity's name and aliases."""
    return [name.strip() for name in (rule.entity.name, *rule.entity.aliases) if name.strip()]


def check_previewable(rule: WatchRule) -> None:
    """Raise a :class:`QueryError` saying why ``rule`` cannot be previewed."""
    if rule.kind not in PREVIEW_KINDS:
        raise QueryError(f"a {rule.kind} rule cannot be previewed yet: previews run mention rules ({', '.join(PREVIEW_KINDS)})")


def warmup(rule: WatchRule, default_lookback_days: int) -> timedelta:
    """How long before the window the rule's history reaches: new_mention's look-back, spike's baseline."""
    if rule.kind == "new_mention":
        return timedelta(days=rule.lookback_days or default_lookback_days)
    if rule.kind == "spike":
        return timedelta(hours=rule.spike_baseline_hours)
    return timedelta(0)


def naming(window: StoredWindow, rule: WatchRule) -> list[tuple[Article, str | None]]:
    """The window's articles in which the gazetteer finds one of the rule's names (the SQL filter is a superset)."""
    from streams.enrich.step import analysed_text

    finder = Watchlist([rule])
    return [(article, story) for article, story in window.articles if finder.find(analysed_text(article))]


def backtest(
    candidates: list[tuple[Article, str | None]], rule: WatchRule, rules: list[WatchRule], nlp: Any, since: datetime,
    default_lookback_days: int, progress: Progress | None = None,
) -> list[Alert]:  # fmt: skip
    """The latest state of each alert ``rule`` raises over ``candidates`` (oldest first), through the enrich step and
    :class:`Simulation`; alerts first raised by an article older than ``since`` (the history's warm-up) are left out."""
    from streams.enrich.step import enrich_articles

    watchlist = Watchlist([*[r for r in rules if r.id != rule.id], rule])
    simulation = Simulation([rule], default_lookback_days)
    latest: dict[str, Alert] = {}
    before: set[str] = set()
    for start in range(0, len(candidates), BATCH):
        batch = candidates[start : start + BATCH]
        stories = {article.id: story for article, story in batch}
        for result in enrich_articles(nlp, [article for article, _ in batch], watchlist, BATCH):
            _, alerts = simulation.step_in_story(result.item, result.mentions, stories[result.item.article.id])
            for alert in alerts:
                if not alert.update and min(mention_time(m)[0] for m in result.mentions) < since:
                    before.add(alert.id)
                latest[alert.id] = alert
        if progress is not None:
            progress(min(start + BATCH, len(candidates)), len(candidates))
    return [alert for alert_id, alert in latest.items() if alert_id not in before]


@dataclass(frozen=True)
class Window:
    """The stored articles a preview reads: the window's count, and (from the warm-up before it on) those naming the rule."""

    stored: int
    candidates: list[tuple[Article, str | None]]
    #: of the candidates, those inside the window
    naming: int


async def read_window(sink: Sink, rule: WatchRule, since: datetime, until: datetime, default_lookback_days: int) -> Window:
    """The stored articles of the window (counted) and, from the warm-up before it on, those naming the rule."""
    check_previewable(rule)
    window = await sink.stored_articles(since, until, [])
    candidates = naming(await sink.stored_articles(since - warmup(rule, default_lookback_days), until, names(rule)), rule)
    return Window(window.total, candidates, sum(1 for article, _ in candidates if (article.published or article.fetched) >= since))


async def preview(
    sink: Sink, rule: WatchRule, rules: list[WatchRule], since: datetime, until: datetime, nlp: Callable[[], Any],
    default_lookback_days: int, story_window_hours: int, progress: Progress | None = None,
) -> Preview:  # fmt: skip
    """The whole preview, its NLP run here (the CLI's way; the dashboard runs :func:`backtest` on its NLP thread).

    ``nlp`` is called only when an article names the rule, so an empty window never loads spaCy.
    """
    window = await read_window(sink, rule, since, until, default_lookback_days)
    alerts = backtest(window.candidates, rule, rules, nlp(), since, default_lookback_days, progress) if window.candidates else []
    rows = await preview_alerts(sink, alerts, until, story_window_hours)
    return Preview(rule, since, until, window.stored, window.naming, rows)


async def preview_alerts(sink: Sink, alerts: list[Alert], now: datetime, story_window_hours: int) -> list[PreviewAlert]:
    """Each alert with its story's headline and whether the story is still open, oldest first."""
    out = []
    for alert in sorted(alerts, key=lambda a: (a.published or a.fetched, a.id)):
        found = await sink.story(alert.story_id)
        story = found[0] if found is not None and found[0].id == alert.story_id else None
        last = story.last_seen if story is not None else (alert.published or alert.fetched)
        out.append(
            PreviewAlert(alert, story.headline if story is not None else alert.title, now - last <= timedelta(hours=story_window_hours))
        )
    return out


PREVIEW_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Wirewatch watch preview</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body><p><a href="../../dashboard">← dashboard</a></p>
<h1>What {name} would have sent</h1><p><small>rule {id} ({kind}); {period}</small></p>
<p>{summary}</p>{why}
<table><thead><tr><th>time</th><th>story</th><th>evidence and article</th><th>sources</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""


def render_preview(result: Preview) -> str:
    """The dashboard's preview page of a rule (read-only): one row per alert, the summary, why it is empty; all escaped."""
    from streams.web.dashboard import STYLE, article_link, evidence_html

    e = html.escape
    rows = "".join(
        f"<tr><td>{e(row.time.strftime('%Y-%m-%d %H:%M'))}</td>"
        f'<td><a href="../../story/{e(quote(row.alert.story_id, safe=""))}">{e(row.headline)}</a>'
        f"<br><small>{'open' if row.open else 'closed'}</small></td>"
        f'<td><blockquote class="evidence">{evidence_html(row.alert.evidence)}</blockquote>'
        f"{article_link(row.alert.url, row.alert.title)}</td><td>{row.alert.source_count}</td></tr>"
        for row in result.alerts
    )
    why = result.why_empty()
    return PREVIEW_PAGE.format(
        style=STYLE,
        name=e(result.rule.entity.name),
        id=e(result.rule.id),
        kind=e(result.rule.kind),
        period=e(f"{result.since:%Y-%m-%d %H:%M} to {result.until:%Y-%m-%d %H:%M} UTC"),
        summary=e(result.summary()),
        why=f'<p class="empty">{e(why)}</p>' if why else "",
        rows=rows or '<tr><td colspan="4" class="empty">no alert</td></tr>',
    )
