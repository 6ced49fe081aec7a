"""The worker's dashboard as plain server-rendered HTML: alerts with evidence, trending entities, feed health, throughput, lag."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prometheus_client import REGISTRY

from schemas import Alert, Story
from streams.store.queries import EntitySummary, StoryArticleRow, Trend

_BOLD = re.compile(r"\*\*(.+?)\*\*")

#: worker counters shown on the dashboard: label → (metric sample name, labels)
COUNTERS: dict[str, tuple[str, dict[str, str]]] = {
    "articles enriched": ("wirewatch_articles_enriched_total", {}),
    "articles stored": ("wirewatch_sink_rows_total", {"table": "articles"}),
    "alerts stored": ("wirewatch_sink_rows_total", {"table": "alerts"}),
}


def fold_trends(trends: list[Trend], canonical: Callable[[str], tuple[str, str, str] | None], limit: int = 10) -> list[Trend]:
    """Trending entities per registry entity: an id merged into another (an alias record) counts for the entity it was
    merged into, under the registry's name; ``canonical`` gives an id's (id, name, type) in the registry, if it has one."""
    series: dict[str, list[int]] = {}
    names: dict[str, tuple[str, str]] = {}
    for trend in trends:
        found = canonical(trend.entity.id)
        entity_id, name, kind = found if found is not None else (trend.entity.id, trend.entity.name, trend.entity.type)
        row = series.setdefault(entity_id, [0] * len(trend.per_hour))
        series[entity_id] = [a + b for a, b in zip(row, trend.per_hour, strict=True)]
        names[entity_id] = (name, kind)
    top = sorted(series, key=lambda e: (-sum(series[e]), names[e][0]))[:limit]
    return [Trend(EntitySummary(e, names[e][0], names[e][1], sum(series[e])), series[e]) for e in top]


@dataclass(frozen=True)
class DashboardData:
    """Everything one rendering of the dashboard shows."""

    now: datetime
    alerts: list[Alert]
    trends: list[Trend]
    counters: dict[str, float]
    dead_letters: float
    lag: dict[str, float]
    #: one row per registered feed (:meth:`streams.feedhealth.FeedBoard.rows`), read from Kafka
    feeds: list[dict[str, Any]] = field(default_factory=list)
    #: why the feed view may be incomplete: a topic not readable, a registry entry that does not decode
    feed_notes: list[str] = field(default_factory=list)
    #: the top stories of the last day, the most articles first
    stories: list[Story] = field(default_factory=list)


def worker_figures() -> tuple[dict[str, float], float, dict[str, float]]:
    """This process's counters, dead letters and consumer lag per topic, from its Prometheus registry."""
    counters = {label: REGISTRY.get_sample_value(name, labels) or 0.0 for label, (name, labels) in COUNTERS.items()}
    dead = 0.0
    lag: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "wirewatch_dead_letters_total":
                dead += sample.value
            elif sample.name == "wirewatch_consumer_lag":
                lag[sample.labels["topic"]] = sample.value
    return counters, dead, lag


def feed_status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Feeds per status."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "–"


def _next_check(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds <= 0:
        return "due"
    if seconds < 120:
        return f"in {seconds:.0f} s"
    return f"in {seconds / 60:.0f} min" if seconds < 7200 else f"in {seconds / 3600:.0f} h"


def feeds_html(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """Feed health: a count per status, then one row per feed (title, URL, status, last poll, errors, next check, items)."""
    e = html.escape
    counts = feed_status_counts(rows)
    summary = "".join(f"<td>{e(status)}: {n}</td>" for status, n in sorted(counts.items())) or "<td>none registered</td>"
    cells = _rows(
        [
            [
                f"<strong>{e(r['title'] or r['id'])}</strong><br><small>{e(r['url'])}</small>",
                f'<span class="status-{e(r["status"])}">{e(r["status"])}</span>',
                e(_when(r["last_poll"])),
                f'<span title="{e(r["last_error"] or "")}">{r["error_count"]}</span>',
                e(_next_check(r["next_check_in"])),
                str(r["items_seen"]),
                "yes" if r["broken"] else "no",
            ]
            for r in rows
        ],
        "no feeds registered",
        7,
    )
    note = "".join(f'<p class="note">{e(n)}</p>' for n in notes)
    return (
        f'<table id="feed-summary"><tr><th>feeds</th>{summary}</tr></table>{note}'
        '<table id="feeds"><thead><tr><th>feed</th><th>status</th><th>last poll (UTC)</th><th>errors</th>'
        f'<th>next check</th><th>items seen</th><th>broken</th></tr></thead><tbody id="feed-rows">{cells}</tbody></table>'
    )


def article_link(url: str, title: str) -> str:
    """The article's title, a link only when its URL is http(s): a ``javascript:`` or ``data:`` URL is shown as text."""
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{html.escape(url)}" rel="noreferrer noopener">{html.escape(title)}</a>'
    return f"{html.escape(title)} <small>{html.escape(url)}</small>"


def evidence_html(evidence: str) -> str:
    """The evidence sentence, escaped, with the watched name (``**name**``) marked."""
    return _BOLD.sub(r"<mark>\1</mark>", html.escape(evidence))


def sparkline_svg(values: list[int], what: str = "mentions", top: int | None = None) -> str:
    """Inline SVG bars of ``values`` (``what`` per hour, oldest first) and their sum.

    ``top`` is the scale: the largest value of the whole table, so rows compare at a glance (scaled to its own peak,
    every entity mentioned mostly in the last hour drew the same line). An hour without any is a thin baseline tick.
    """
    label = html.escape(f"{what} per hour: {', '.join(str(v) for v in values)}")
    bars = "".join(f'<rect x="{x}" y="{y}" width="{w}" height="{h}"/>' for x, y, w, h in sparkline_bars(values, top))
    return (
        f'<svg class="spark" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="{label}">{bars}</svg>'
        f' <small class="spark-sum">{sum(values)}</small>'
    )


def _rows(cells: list[list[str]], empty: str, columns: int) -> str:
    if not cells:
        return f'<tr><td colspan="{columns}" class="empty">{html.escape(empty)}</td></tr>'
    return "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in cells)


def stories_html(stories: list[Story]) -> str:
    """The top stories: headline (a link to the story's page), articles, sources, a sparkline of articles per hour, lifecycle."""
    e = html.escape
    top = max((max(s.per_hour, default=0) for s in stories), default=0)  # one scale for the table
    return _rows(
        [
            [
                f'<a href="story/{e(s.id)}">{e(s.headline)}</a><br><small>{e(", ".join(t.name for t in s.top_entities[:3]))}</small>',
                str(s.article_count),
                str(s.source_count),
                sparkline_svg(s.per_hour, "articles", top),
                f'<span class="lifecycle-{e(s.lifecycle)}">{e(s.lifecycle)}</span><br><small>{s.velocity}/h</small>',
            ]
            for s in stories
        ],
        "no stories in the last 24 hours",
        5,
    )


def render_story(story: Story, articles: list[StoryArticleRow], linked: Sequence[Story] = ()) -> str:
    """A story's page: its headline and figures, the stories of its burst, its articles by outlet (everything escaped)."""
    e = html.escape
    by_outlet: dict[str, list[StoryArticleRow]] = {}
    for row in sorted(articles, key=lambda r: (r.source, r.time)):
        by_outlet.setdefault(row.source, []).append(row)
    sections = (
        "".join(
            f"<h3>{e(outlet)} ({len(rows)})</h3><ul>"
            + "".join(f'<li>{e(row.time[:16])} <a href="{e(row.url)}" rel="noreferrer">{e(row.title)}</a></li>' for row in rows)
            + "</ul>"
            for outlet, rows in by_outlet.items()
        )
        or '<p class="empty">no stored articles yet</p>'
    )
    entities = e(", ".join(f"{t.name} ({t.articles})" for t in story.top_entities))
    return STORY_PAGE.format(
        style=STYLE,
        headline=e(story.headline),
        id=e(story.id),
        figures=e(
            f"{story.article_count} articles from {story.source_count} sources; {story.lifecycle}, {story.velocity} in the last hour; "
            f"first {story.first_seen:%Y-%m-%d %H:%M}, last {story.last_seen:%Y-%m-%d %H:%M} UTC"
        ),  # fmt: skip
        entities=entities,
        spark=sparkline_svg(story.per_hour, "articles"),
        linked=_linked(story, linked),
        sections=sections,
    )


def _linked(story: Story, linked: Sequence[Story]) -> str:
    """The stories of the same burst (an article would have joined either): rules count them as one, so an alert may
    count sources of both."""
    if not story.linked_story_ids:
        return ""
    e = html.escape
    known = {other.id: other for other in linked}
    items = "".join(
        f'<li><a href="{e(quote(sid, safe=""))}">{e(known[sid].headline)}</a> ({known[sid].article_count} articles from '
        f"{known[sid].source_count} sources)</li>"
        if sid in known
        else f"<li>story {e(sid)} (not stored)</li>"
        for sid in story.linked_story_ids
    )
    return f"<p>The same news, opened as another story in the same minutes (rules count them as one):</p><ul>{items}</ul>"


def render_dashboard(data: DashboardData) -> str:
    """The whole page; values are escaped, so feed text can never inject markup."""
    e = html.escape
    alerts = _rows(
        [
            [
                e(a.detected.strftime("%Y-%m-%d %H:%M:%S")),
                f'<span class="entity">{e(a.entity_name)}</span><br><small>{e(a.kind)}</small>',
                f'<blockquote class="evidence">{evidence_html(a.evidence)}</blockquote>{article_link(a.url, a.title)}',
                f"{a.latency_seconds:.1f} s",
            ]
            for a in data.alerts
        ],
        "no alerts yet",
        4,
    )
    trend_top = max((max(t.per_hour, default=0) for t in data.trends), default=0)  # one scale for the table
    trends = _rows(
        [[e(t.entity.name), e(t.entity.type), str(t.entity.mentions), sparkline_svg(t.per_hour, top=trend_top)] for t in data.trends],
        "no mentions in the last 24 hours",
        4,
    )
    counters = "".join(
        f'<tr><th>{e(label)}</th><td data-counter="{e(label)}">{value:.0f}</td><td data-rate="{e(label)}">–</td></tr>'
        for label, value in data.counters.items()
    )
    lag = _rows(
        [[e(topic), f'<span data-lag="{e(topic)}">{value:.0f}</span>'] for topic, value in sorted(data.lag.items())],
        "no lag measured yet",
        2,
    )
    return PAGE.format(
        style=STYLE,
        script=SCRIPT,
        now=e(data.now.strftime("%Y-%m-%d %H:%M:%S %Z")),
        alert_count=len(data.alerts),
        alerts=alerts,
        trends=trends,
        counters=counters,
        dead_letters=f"{data.dead_letters:.0f}",
        lag=lag,
        feeds=feeds_html(data.feeds, data.feed_notes),
        stories=stories_html(data.stories),
        story_count=len(data.stories),
    )


def dashboard_json(data: DashboardData) -> dict[str, Any]:
    """The figures the page's script refreshes."""
    return {
        "now": data.now.isoformat(),
        "counters": data.counters,
        "dead_letters": data.dead_letters,
        "lag": data.lag,
        "feeds": data.feeds,
        "feed_notes": data.feed_notes,
    }


# The page's one style sheet and one script are inline, allowed by their hashes in the Content-Security-Policy, so no
# other script (injected markup, a javascript: link) can run, and the page needs no second request for them.
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; }
td, th { padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
blockquote.evidence { margin: 0 0 .2rem; } mark { background: #ffe58a; }
.spark { color: #1f6feb; vertical-align: middle; } .spark rect { fill: currentColor; } .spark-sum { color: #555; }
.status-broken, .note { color: #b42318; font-weight: 600; } .status-error { color: #b54708; }
.empty { color: #888; } .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 0 2rem; }
.grid table { width: 100%; } body > table { width: 100%; } section h2 { margin-top: 1.5rem; }
.ok { color: #067647; font-weight: 600; } .problem { color: #b42318; font-weight: 600; } .acked { color: #555; }
form { margin: .3rem 0; } label { margin-right: .5rem; }
.lifecycle-growing, .lifecycle-new { color: #b42318; font-weight: 600; } .lifecycle-fading { color: #888; }
h3 { font-size: 1rem; margin-bottom: .2rem; }
"""

SCRIPT = """
let last = null;
function when(ts) { return ts ? new Date(ts * 1000).toISOString().slice(0, 19).replace("T", " ") : "–"; }
function refreshFeeds(feeds) {
  const body = document.getElementById("feed-rows");
  if (!body || !feeds || !feeds.length) return;
  body.replaceChildren(...feeds.map((f) => {
    const row = document.createElement("tr");
    const s = f.next_check_in;
    const next = s === null ? "–" : s <= 0 ? "due" : s < 120 ? `in ${s.toFixed(0)} s`
      : s < 7200 ? `in ${(s / 60).toFixed(0)} min` : `in ${(s / 3600).toFixed(0)} h`;
    const cells = [null, f.status, when(f.last_poll), String(f.error_count), next, String(f.items_seen), f.broken ? "yes" : "no"];
    cells.forEach((text, i) => {
      const cell = row.insertCell();
      if (i === 0) {
        const title = document.createElement("strong");
        title.textContent = f.title || f.id;
        const url = document.createElement("small");
        url.textContent = f.url;
        cell.append(title, document.createElement("br"), url);
      } else {
        const span = document.createElement("span");
        span.textContent = text;
        if (i === 1) span.className = `status-${f.status}`;
        if (i === 3) span.title = f.last_error || "";
        cell.append(span);
      }
    });
    return row;
  }));
}
async function refresh() {
  try {
    const now = await (await fetch("dashboard.json")).json();
    for (const [label, value] of Object.entries(now.counters)) {
      const total = document.querySelector(`[data-counter="${label}"]`);
      if (total) total.textContent = value.toFixed(0);
      const rate = document.querySelector(`[data-rate="${label}"]`);
      if (rate && last) {
        const seconds = (Date.parse(now.now) - Date.parse(last.now)) / 1000;
        if (seconds > 0) rate.textContent = ((value - last.counters[label]) / seconds).toFixed(1);
      }
    }
    for (const [topic, value] of Object.entries(now.lag)) {
      const cell = document.querySelector(`[data-lag="${topic}"]`);
      if (cell) cell.textContent = value.toFixed(0);
    }
    document.getElementById("dead-letters").textContent = now.dead_letters.toFixed(0);
    refreshFeeds(now.feeds);
    document.getElementById("refreshed").textContent = `; figures of ${now.now.slice(11, 19)} UTC`;
    last = now;
  } catch (err) { /* the worker may be restarting; try again on the next tick */ }
}
refresh();
setInterval(refresh, 5000);
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


#: the dashboard's Content-Security-Policy: its own script and style (by hash), fetches to itself, nothing else
DASHBOARD_CSP = (
    f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Wirewatch dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body>
<h1>Wirewatch</h1><p>rendered {now}<span id="refreshed"></span>; figures refresh every 5 s;
<a href="manage">add feeds and watches, acknowledge alerts</a></p>
<h2>Top stories ({story_count})</h2>
<table id="stories"><tr><th>story</th><th>articles</th><th>sources</th><th>per hour (24 h)</th><th>lifecycle</th></tr>{stories}</table>
<h2>Recent alerts ({alert_count})</h2>
<table id="alerts"><tr><th>detected</th><th>entity</th><th>evidence and article</th><th>latency</th></tr>{alerts}</table>
<div class="grid">
<section><h2>Trending entities (24 h, per hour)</h2>
<table id="trending"><tr><th>entity</th><th>type</th><th>mentions</th><th>per hour</th></tr>{trends}</table></section>
<section><h2>Throughput</h2>
<table id="throughput"><tr><th></th><th>total</th><th>per second</th></tr>{counters}
<tr><th>dead letters</th><td id="dead-letters">{dead_letters}</td><td></td></tr></table>
<h2>Consumer lag</h2><table id="lag"><tr><th>topic</th><th>messages</th></tr>{lag}</table></section>
<section><h2>Feed health</h2>{feeds}</section>
</div>
<script>{script}</script>
</body></html>
"""


def sparkline_bars(values: list[int], top: int | None = None, width: int = 120, height: int = 24) -> list[tuple[str, str, str, str]]:
    """``x, y, width, height`` of one bar per value, left to right, scaled so that ``top`` (default: the largest value)
    fills the box; a zero is a 1-pixel tick on the baseline."""
    if not values:
        return []
    scale = max(top or 0, max(values)) or 1
    step = width / len(values)
    out = []
    for i, value in enumerate(values):
        bar = max(1.0, value / scale * (height - 1)) if value else 1.0
        out.append((f"{i * step:.1f}", f"{height - bar:.1f}", f"{max(step - 1, 1):.1f}", f"{bar:.1f}"))
    return out


STORY_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Wirewatch story</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body><p><a href="../dashboard">← dashboard</a></p>
<h1>{headline}</h1><p><small>story {id}</small></p><p>{figures}</p><p>{spark}</p><p>names: {entities}</p>{linked}
<h2>Articles by outlet</h2>{sections}
</body></html>
"""
