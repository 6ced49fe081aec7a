"""``watch test`` and ``watch add --try/--backfill``: what a rule would have sent over the stored articles.

The preview itself is streams/web/preview.py (the dashboard shows the same); this module reads the window, shows a
progress bar while spaCy re-reads the articles that name the rule, prints the result and publishes a backfill.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from schemas import Alert, WatchRule
from streams.cli.common import console, marked, out, print_json, run_async
from streams.cli.tables import Column, print_rows
from streams.config import Settings
from streams.web.preview import Preview

#: the progress bar shows only from this many articles to enrich on (fewer take a second or two)
PROGRESS_FROM = 32


def rules_in_force(settings: Settings) -> dict[str, WatchRule]:
    """The rules on the compacted topic, by id."""
    from schemas import decode
    from streams.kafka.client import compacted_state

    return {key: decode(WatchRule, value) for key, value in run_async(compacted_state(settings, "rules")).items()}


def find_rule(rules: dict[str, WatchRule], rule_id: str) -> WatchRule | None:
    """A rule by id or by a start of its id no other rule shares (as ``watch list`` shows it)."""
    if rule_id in rules:
        return rules[rule_id]
    matches = [key for key in sorted(rules) if key.startswith(rule_id)]
    return rules[matches[0]] if len(matches) == 1 else None


@functools.cache
def _model(name: str) -> Any:
    """The spaCy pipeline, loaded once per command (``--try`` and ``--backfill`` share it)."""
    from streams.enrich.model import load_model

    return load_model(name)


def run_preview(settings: Settings, rule: WatchRule, rules: list[WatchRule], since: datetime, until: datetime) -> Preview:
    """The preview of ``rule`` over ``since``..``until`` from the configured sink, spaCy loaded only if needed."""
    from streams.cli.data import _with_sink
    from streams.web import preview

    progress = Progress(TextColumn("re-reading the articles that name the rule"), BarColumn(), MofNCompleteColumn(), console=console,
                        transient=True, disable=not console.is_terminal)  # fmt: skip
    task = progress.add_task("enrich", total=None)

    def nlp() -> Any:
        return _model(settings.spacy_model)

    def advance(done: int, total: int) -> None:
        if total >= PROGRESS_FROM:
            progress.start()
        progress.update(task, completed=done, total=total)

    async def action(sink: Any) -> Preview:
        return await preview.preview(sink, rule, rules, since, until, nlp, settings.new_mention_lookback_days,
                                     settings.story_window_hours, advance)  # fmt: skip

    try:
        result: Preview = run_async(_with_sink(action))
    finally:
        progress.stop()
    return result


def print_preview(result: Preview, as_json: bool, wide: bool) -> None:
    """One row per alert (time, story headline, article, evidence), then the summary or why nothing was found."""
    if as_json:
        print_json(result.as_json())
        return
    from streams.clock import human_ago, utcnow

    now = utcnow()
    if result.alerts:
        columns = [Column("time", short=True), Column("story", max_width=30), Column("article", max_width=24),
                   Column("sources", short=True, wide_only=True), Column("evidence")]  # fmt: skip
        rows = [[human_ago((now - row.time).total_seconds()), escape(row.headline), escape(row.alert.title),
                 str(row.alert.source_count), marked(row.alert.evidence)] for row in result.alerts]  # fmt: skip
        print_rows(columns, rows, wide)
    out.print(escape(result.summary()), soft_wrap=True)
    why = result.why_empty()
    if why:
        out.print(escape(why), soft_wrap=True)


def backfill_alerts(result: Preview, now: datetime) -> list[Alert]:
    """The preview's alerts whose story is still open, as the worker would have raised them now (same ids)."""
    return [row.alert.model_copy(update={"detected": now, "latency_seconds": max(0.0, (now - row.alert.fetched).total_seconds()),
                                         "update": False}) for row in result.alerts if row.open]  # fmt: skip


def publish_backfill(settings: Settings, result: Preview, now: datetime) -> int:
    """Publish the open stories' alerts to wirewatch.alerts (delivered and stored as usual); returns how many."""
    from streams.kafka.client import publish

    alerts = backfill_alerts(result, now)
    if alerts:
        run_async(publish(settings, "alerts", [(alert.id, alert) for alert in alerts]))
    return len(alerts)
