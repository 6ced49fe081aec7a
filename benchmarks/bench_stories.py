"""Stories: clustering quality on real headlines (UCI News Aggregator dev sample) and with summaries (BBC articles as
artificial outlet versions), one alert per story, the story stage's speed against the enrich step's, and its state
over a simulated week of 100,000 articles."""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.story_week import state_over_week
from schemas import Alert, EnrichedArticle, Mention, WatchRule
from streams.alert.rulefile import load_rules_yaml, make_rule
from streams.cli.simulate import Simulation, article_of, simulation_registry
from streams.enrich.gazetteer import Watchlist
from streams.story.decide import AGE_HALF_LIFE_HOURS, FRESHNESS_HALF_LIFE_HOURS, LINK_SECONDS, THRESHOLD
from streams.story.index import StoryIndex

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
UCI = DATA / "stories" / "uci-news-aggregator-dev.csv"
UCI_WATCHLIST = DATA / "stories" / "uci-dev-watchlist.yaml"
BBC = DATA / "articles" / "bbc-news" / "bbc"


@dataclass(frozen=True)
class Item:
    """One enriched article of an evaluation stream, with its mentions and its gold story."""

    item: EnrichedArticle
    mentions: list[Mention]
    gold: str


def enrich_lines(nlp: Any, lines: list[dict[str, Any]], golds: list[str], rules: list[WatchRule]) -> list[Item]:
    """JSON-line records (as ``wirewatch simulate`` reads them) through the enrich step, in order."""
    from streams.enrich.step import enrich_articles

    articles = [article_of(line, number) for number, line in enumerate(lines, start=1)]
    results = enrich_articles(nlp, articles, Watchlist(rules), 64, registry=simulation_registry(rules))
    return [Item(r.item, r.mentions, gold) for r, gold in zip(results, golds, strict=True)]


def uci_stream(nlp: Any) -> tuple[list[Item], list[WatchRule]]:
    """The dev CSV's 2,622 headlines in time order (title and URL only, as a headline-only feed gives them)."""
    rules = load_rules_yaml(UCI_WATCHLIST.read_text("utf-8"))
    with UCI.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = [
        {"id": r["ID"], "title": r["TITLE"], "url": r["URL"], "feed_id": r["HOSTNAME"], "published": int(r["TIMESTAMP"])} for r in rows
    ]
    return enrich_lines(nlp, lines, [r["STORY"] for r in rows], rules), rules


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def edited(text: str, rnd: random.Random, changes: int = 3) -> str:
    """``text`` with a few words dropped, as a copy desk trims wire copy."""
    words = text.split()
    for _ in range(min(changes, max(0, len(words) - 4))):
        del words[rnd.randrange(len(words))]
    return " ".join(words)


def bbc_stream(nlp: Any, stories: int = 300, seed: int = 11) -> list[Item]:
    """BBC News articles, each carried by three artificial outlets: the gold story is the article.

    Outlet 1 carries the BBC headline with the first two sentences as its summary; outlet 2 the headline with three
    words dropped and the same lead lightly edited; outlet 3 titles it with the first 12 words of its first sentence
    (a different headline) and summarises with sentences 1-3, edited. Stories start every 4 minutes over 20 hours,
    interleaved; an article's three versions come within two hours. Real outlets rewrite more than this; the point
    is what a summary adds to a headline, measured on the same stream with and without summaries.
    """
    paths = sorted(BBC.rglob("*.txt"))
    paths = paths[:: max(1, len(paths) // stories)][:stories]
    rnd = random.Random(seed)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    lines: list[tuple[float, dict[str, Any], str]] = []
    for n, path in enumerate(paths):
        headline, _, body = path.read_bytes().decode("utf-8", "replace").partition("\n")
        sentences = [s.strip() for s in _SENTENCE.split(" ".join(body.split())) if len(s.split()) >= 5]
        if len(sentences) < 3:
            continue
        begin = start + timedelta(minutes=4 * n)
        lead = " ".join(sentences[:2])
        versions = [
            (headline.strip(), lead),
            (edited(headline.strip(), rnd), edited(lead, rnd)),
            (" ".join(sentences[0].split()[:12]), edited(" ".join(sentences[:3]), rnd)),
        ]
        for outlet, (title, summary) in enumerate(versions):
            when = begin + timedelta(minutes=rnd.uniform(0, 120) if outlet else 0)
            lines.append((when.timestamp(), {"id": f"bbc{n}-{outlet}", "title": title, "summary": summary,
                                             "url": f"https://outlet{outlet}.example/{n}", "published": when.isoformat()},
                          f"bbc{n}"))  # fmt: skip
    lines.sort(key=lambda line: line[0])
    return enrich_lines(nlp, [line for _, line, _ in lines], [gold for _, _, gold in lines], [])


def headlines_only(items: list[Item]) -> list[Item]:
    """The same stream without summaries (what a headline-only feed would give)."""
    plain = []
    for item in items:
        article = item.item.article.model_copy(update={"summary": "", "text": ""})
        plain.append(Item(item.item.model_copy(update={"article": article}), item.mentions, item.gold))
    return plain


def bcubed(pred: list[str], gold: list[str]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against the gold one (Bagga and Baldwin 1998)."""
    pc, gc, both = Counter(pred), Counter(gold), Counter(zip(pred, gold, strict=True))
    n = len(pred)
    precision = sum(both[(p, g)] / pc[p] for p, g in zip(pred, gold, strict=True)) / n
    recall = sum(both[(p, g)] / gc[g] for p, g in zip(pred, gold, strict=True)) / n
    return precision, recall, 2 * precision * recall / (precision + recall)


def alert_figures(items: list[Item], alerts: list[Alert]) -> dict[str, float]:
    """Alerts per (rule, gold story) over the pairs where an article of the gold story names the rule's entity."""
    gold_of = {item.item.article.id: item.gold for item in items}
    pairs = {(rid, item.gold) for item in items for m in item.mentions for rid in m.watch_ids}
    fresh = Counter((a.rule_id, gold_of[a.article_id]) for a in alerts if not a.update)
    counts = [fresh.get(pair, 0) for pair in pairs]
    return {"pairs": len(pairs), "alerts": sum(fresh.values()), "per_pair": sum(counts) / max(1, len(pairs)),
            "exactly_one": sum(c == 1 for c in counts) / max(1, len(pairs)), "missing": sum(c == 0 for c in counts),
            "updates": sum(1 for a in alerts if a.update)}  # fmt: skip


def evaluate(items: list[Item], rules: list[WatchRule], threshold: float = THRESHOLD, half_life: float = FRESHNESS_HALF_LIFE_HOURS,
             singletons: bool = False, age: float = AGE_HALF_LIFE_HOURS, link: float = LINK_SECONDS) -> dict[str, float]:  # fmt: skip
    """Cluster and evaluate the rules over ``items`` as ``wirewatch simulate`` does; singletons: every article its own story.

    Besides the figures over all gold stories, each figure of the two halves of the gold stories (every other one, in
    the order of their ids: ``_a`` and ``_b``), so a setting chosen on one half can be judged on the other.
    """
    index = StoryIndex(threshold=threshold, half_life_hours=half_life, age_half_life_hours=age, link_seconds=link)
    simulation = Simulation(rules, 30, index)
    pred: list[str] = []
    alerts: list[Alert] = []
    for item in items:
        if singletons:
            item = Item(item.item, [m.model_copy(update={"story_id": f"solo-{item.item.article.id}"}) for m in item.mentions], item.gold)
            simulation.index.add(item.item)  # keeps the index warm; the mentions carry their own story
            story, raised = f"solo-{item.item.article.id}", []
            for mention in item.mentions:
                rules_of = [r for r in rules if r.id in mention.watch_ids]
                if rules_of:
                    from streams.alert.mentions import evaluate_mention

                    seen, new = evaluate_mention(mention, simulation.seen.get(mention.entity_id), rules_of, item.item.article.fetched, 30)
                    simulation.seen[mention.entity_id] = seen
                    raised += new
        else:
            story, raised, _ = simulation.step(item.item, item.mentions)
        pred.append(story)
        alerts += raised
    precision, recall, f1 = bcubed(pred, [item.gold for item in items])
    figures = {"articles": len(items), "gold_stories": len({item.gold for item in items}), "stories": len(set(pred)),
               "precision": precision, "recall": recall, "f1": f1}  # fmt: skip
    figures |= alert_figures(items, alerts)
    golds = sorted({item.gold for item in items})
    for name, half in (("a", set(golds[0::2])), ("b", set(golds[1::2]))):
        kept = [n for n, item in enumerate(items) if item.gold in half]
        part = [items[n] for n in kept]
        ids = {item.item.article.id for item in part}
        p, _, f = bcubed([pred[n] for n in kept], [item.gold for item in part])
        counts = alert_figures(part, [alert for alert in alerts if alert.article_id in ids])
        figures |= {f"precision_{name}": p, f"f1_{name}": f, f"exactly_one_{name}": counts["exactly_one"],
                    f"missing_{name}": counts["missing"], f"per_pair_{name}": counts["per_pair"]}  # fmt: skip
    return figures


def query_figures(items: list[Item], rules: list[WatchRule]) -> dict[str, float]:
    """The alert figures of the same names as ``query`` rules (each name and its aliases as quoted phrases ORed), counted
    over the mention rules' (rule, gold story) pairs: query rules count stories as mention rules do."""
    queries = {rule.id: make_rule("", [], kind="query", query=" OR ".join(f'"{n}"' for n in (rule.entity.name, *rule.entity.aliases)))
               for rule in rules}  # fmt: skip
    of_query = {query.id: rid for rid, query in queries.items()}
    simulation = Simulation(list(queries.values()), 30, StoryIndex())
    alerts = [alert for item in items for alert in simulation.step(item.item, item.mentions).alerts]
    return alert_figures(items, [alert.model_copy(update={"rule_id": of_query[alert.rule_id]}) for alert in alerts])


#: the age half-lives the sweep tries (hours; infinity: no age factor, the stage before issue 11's second pass)
SWEEP_AGES = (1.5, 2.0, 3.0, 6.0, float("inf"))
SWEEP_THRESHOLDS = (0.04, 0.05, 0.06, 0.07)


def sweep(items: list[Item], rules: list[WatchRule]) -> list[dict[str, float]]:
    """B-cubed and alert figures over age half-lives and thresholds at the freshness half-life chosen before (6 h): how
    THRESHOLD and AGE_HALF_LIFE_HOURS were chosen, so without links (the third pass, :func:`link_sweep`, came after)."""
    out = []
    for age in SWEEP_AGES:
        for threshold in SWEEP_THRESHOLDS:
            out.append({"threshold": threshold, "age": age} | evaluate(items, rules, threshold, age=age, link=0.0))
    return out


#: the link windows the second sweep tries (seconds; 0: no link, the stage before the third pass)
SWEEP_LINKS = (0.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)


def link_sweep(items: list[Item], rules: list[WatchRule]) -> list[dict[str, float]]:
    """The alert figures over link windows at the chosen threshold and half-lives: how LINK_SECONDS was chosen (the
    clustering figures do not move: a link changes how a name counts stories, not which story an article joins)."""
    return [{"link": link} | evaluate(items, rules, link=link) for link in SWEEP_LINKS]


def story_rate(items: list[Item], rounds: int = 3, batch: int = 200) -> float:
    """Articles/s (CPU) through the three story agents' batch functions (benchmarks/story_agents.py), Kafka left out."""
    from benchmarks import story_agents

    pairs = [(item.item, item.mentions) for item in items]
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        story_agents.run(pairs, batch)
        best = max(best, len(items) / (time.process_time() - started))
    return best


def enrich_rate(nlp: Any, limit: int = 100) -> float:
    """Articles/s (CPU) of the enrich step on real BBC articles, the rate the story stage must keep up with."""
    from schemas import Article
    from streams.enrich.step import enrich_articles

    paths = sorted(BBC.rglob("*.txt"))[:: max(1, 2225 // limit)][:limit]
    now = datetime.now(tz=UTC)
    articles = []
    for n, path in enumerate(paths):
        title, _, text = path.read_bytes().decode("utf-8", "replace").partition("\n")
        articles.append(Article(id=str(n), feed_id="b", feed_url="", url="", canonical_url="", title=title, text=text, fetched=now,
                                content_hash=""))  # fmt: skip
    enrich_articles(nlp, articles[:10], None, 16)
    started = time.process_time()
    enrich_articles(nlp, articles, None, 16)
    return len(articles) / (time.process_time() - started)


def _age(hours: float) -> str:
    return "none" if hours == float("inf") else f"{hours:g} h"


def _link(seconds: float) -> str:
    return "none" if seconds == 0 else f"{seconds / 60:g} min"


def _fig(row: dict[str, float]) -> str:
    return (f"B-cubed P {row['precision']:.3f} R {row['recall']:.3f} **F1 {row['f1']:.3f}**; {row['stories']:.0f} stories for "
            f"{row['gold_stories']:.0f} gold")  # fmt: skip


def _alerts(row: dict[str, float]) -> str:
    exactly = round(row["exactly_one"] * row["pairs"])
    missing = f"{row['missing']:.0f} pair{'' if row['missing'] == 1 else 's'}"
    return (f"**{row['per_pair']:.2f} alerts per (rule, story)**, exactly one for **{row['exactly_one']:.1%}** ({exactly}) of "
            f"{row['pairs']:.0f} (rule, story) pairs, {missing} without an alert")  # fmt: skip


def stories_section(nlp: Any, enrich_docs_s: float) -> str:
    """The Stories section of docs/benchmarks.md: every figure of this benchmark, with its method."""
    items, rules = uci_stream(nlp)
    ours, alone, queries = evaluate(items, rules), evaluate(items, rules, singletons=True), query_figures(items, rules)
    rows, links = sweep(items, rules), link_sweep(items, rules)
    bbc = bbc_stream(nlp)
    with_summary, headlines = evaluate(bbc, []), evaluate(headlines_only(bbc), [])
    rate, enrich = story_rate(items), enrich_rate(nlp)
    week = state_over_week()
    table = "\n".join(
        f"| {_age(r['age'])} | {r['threshold']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['per_pair']:.2f} | "
        f"{r['exactly_one']:.0%} | {r['missing']:.0f} | {r['f1_a']:.3f} / {r['f1_b']:.3f} | {r['exactly_one_a']:.0%} / "
        f"{r['exactly_one_b']:.0%} | {r['missing_a']:.0f} / {r['missing_b']:.0f} |"
        for r in rows
    )  # fmt: skip
    link_table = "\n".join(
        f"| {_link(r['link'])} | {r['per_pair']:.2f} | {r['exactly_one']:.1%} | "
        f"{r['missing']:.0f} | {r['exactly_one_a']:.0%} / {r['exactly_one_b']:.0%} | {r['missing_a']:.0f} / {r['missing_b']:.0f} |"
        for r in links
    )  # fmt: skip
    days = "\n".join(
        f"| {r['day']:.0f} | {r['stories']:.0f} | {r['keys']:.0f} | {r['key_stories']:.0f} | {r['articles']:.0f} | "
        f"{(r['story-keys'] + r['story-articles'] + r['story-state']) / 1e6:.1f} MB |"
        for r in week
    )  # fmt: skip
    full = week[-2] if len(week) > 1 else week[-1]
    per_1000 = (full["story-keys"] + full["story-articles"] + full["story-state"]) / max(1.0, full["stories"]) * 1000
    return f"""## Stories

`benchmarks/bench_stories.py` (`python -m benchmarks.bench_stories`), through `wirewatch simulate`'s code path (the
enrich step, the StoryIndex of `streams/story/index.py`, the mention and breaking rules). B-cubed precision and recall
(Bagga and Baldwin 1998) of each article's story against the gold story; alerts counted per (rule, gold story) over the
pairs where an article of the gold story names the rule's entity (fresh alerts only; updates are not pushed).

Headlines alone: the 2,622 headlines of `../shared/data/stories/uci-news-aggregator-dev.csv` in time order (title and URL,
no text, as a headline-only feed gives them) with the 25 names of `uci-dev-watchlist.yaml` as `mention` rules:
{_fig(ours)}; {_alerts(ours)} (targets: F1 ≥ 0.90, P ≥ 0.93, ≤ 1.15 alerts per pair, exactly one for ≥ 90 %, none
missing; on 2026-12-02, before the third pass, links, below: 1.09, 89.7 % (78), 1). Every article its own story (what Wirewatch did before this stage): {_alerts(alone)}.
The same 25 names as `query` rules (`'"eBay" OR "EBay" OR "Ebay"'`, counted over the same pairs): {_alerts(queries)}
(on 2026-12-05, before query rules followed linked stories as names do: 1.10 alerts per pair, exactly one for 88.5 %, 1
missing).

How the freshness half-life was chosen (first pass, dev CSV only): a sweep of 3, 6 and 12 h; 3 and 6 h scored alike and
12 h merged the next day's developments of a story (the GM recall and the stock market on two days are two gold stories
each); 6 h is the more tolerant of the two for real stories with quiet hours. It is kept.

The age factor (second pass; `streams/story/decide.py`, `age`): the failure analysis of the first pass (every failing
(rule, story) pair reproduced over `Simulation.step`) found both kinds of failure coming from one cause: a story that a
trickle of articles keeps fresh (the 3-10 March market report, a company's commentary pieces) is never quiet, so the
freshness factor never ages it, and it absorbs the next day's market stories (four names alerting 2-5 times on the gold
market story, split between the old story and new ones) and the stories that share a word with it (the job openings
story, Boeing's and Citigroup's commentary pieces: their names had alerted on the older story, so their own story never
alerted; the 8 pairs without an alert). An age factor halving per `AGE_HALF_LIFE_HOURS` since the story's *first*
article bounds how long a story can absorb, whatever keeps it active, as the Europe Media Monitor clusters per day and
links the clusters after. Tried and rejected in this pass (2-fold figures in the notes, scratch scripts not in the repo):
linking a new story to an older one per rule, only for the rules that alerted on the older one (every link threshold
that removed a split added more pairs without an alert than it removed: the same name is in many stories of a day);
weighing entity keys 1.5-2 x a word (P and F1 fell, more pairs without an alert); re-alerting a name after it was quiet
in its story for 0.5-3 h (no pair left without an alert, but 1.16-1.25 alerts per pair, and it fits the dev CSV's
blocks rather than stories).

How the age half-life and the threshold were chosen: the sweep below (freshness half-life 6 h, no links: the third
pass below came after), with a 2-fold check:
the 44 gold stories split into two halves, every other one by id (A and B), each figure also given per half. The
setting was chosen on half B alone (B holds every pair the first pass left without an alert, so it is the half that
shows the phenomenon): B's exactly-one is highest (92 %) at 2 h / 0.06 and 3 h / 0.07, and 2 h / 0.06 has the higher
F1 there and sits inside a plateau (1.5-3 h, 0.05-0.07: 83-89 % exactly one, at most 3 pairs without an alert, P ≥
0.979). Rerun on 2026-12-02 after simulate took a registry (the table below), 2 h / 0.06 was B's best alone (96 %), so
the choice stands without retuning. Judged on half A, held out from that choice: the figure in the A column of that row (A was 79 % exactly one and
without a missing pair before the age factor). Chosen on A instead, A is nearly flat (85 % exactly one at most settings with an age factor:
A has none of the merge failures), and its best F1 (3 h / 0.04) gives on B the figures of that row: the choice needs
the half that has the failures, which is why B chose. The dev CSV's stories arrive in blocks (each story's headlines
within a minute, the next story an hour later), which both factors favour: on a stream where one story's articles
trickle in over a day, a 2 h age half-life opens a new story every few hours, and each alerts again (the figures will
be lower there; the other real data of the same kind will tell). An article with a lead (a summary or text) is not aged
and keeps the first pass's threshold (`LEAD_THRESHOLD`, 0.07): aged, three outlets' versions of one story with
summaries an hour apart split on a real broker (tests/e2e/test_stories_outlets.py), and the BBC stream below fell to
P 0.89 at 0.06 without it.

| age half-life | threshold | P | R | F1 | alerts per pair | exactly one | pairs without an alert | F1 A / B | exactly one A / B | without an alert A / B |
|---|---|---|---|---|---|---|---|---|---|---|
{table}

Linked stories (third pass; `streams/story/decide.py`, `LINK_SECONDS`, and `streams/alert/mentions.py`, `counted_as`):
the failure analysis of the second pass left 9 failing pairs, 6 of them in the two gold "market day" stories. Each of
those days had opened as two or three stories within the same minute (the first reports of "China worries" and "Asian
shares" share no word), and a name in both (China, Japan, U.S., Dow Jones, Ukraine) alerted once in each. Online
clustering splits a burst this way by the order its first articles come in; later articles show it, since they would
join either story. So the decision names the other stories an article would have joined too (score above its own
threshold, the same test as joining) when they were opened within `LINK_SECONDS` of the one it joins, and the mention
carries them: a name already in one of them counts the article's story as that one (one alert, then updates with the
growing source count; the link is kept per name, so the story's later articles count there too). A name new to both
stories still alerts on its own story, and a name first mentioned in a story that alerted for another name gets its own
alert (one per (rule, story), tests/unit/test_story_alerts.py). No delay is added: a fresh alert goes out as soon as
before, the fix costs no latency, and a split whose second alert went out before any article linked the two stays two
alerts. Stories opened further apart are not linked: without the window the same links leave 8 pairs without an alert
(89.7 % exactly one: articles that would join stories of different hours; a name is in many stories of a day), as the second pass found
for links per rule. How the window was chosen: the sweep below at the chosen threshold and half-lives (the clustering
figures do not move with it). Every window from 1 to 30 minutes gives the same figures, on either half of the gold
stories too, and an hour already links different stories, on both halves; the dev CSV cannot tell the windows inside
that plateau apart (each of its stories comes in a block with one time stamp), so 5 minutes was taken, the plateau's
middle on a log scale and well below the hour where linking starts to fail. On a stream whose bursts spread over half
an hour a wider window would catch more splits and risk more wrong links; the other real data will tell. Besides the
6 market-day pairs the links fold the Netflix pair (its ISP-index piece opened a story in the minute the Comcast story
did). Left: U.S. alerting twice in the Snowden story (a headline of the same minute sharing only "U.S." with it opens
a story of its own, so no article links the two) and the pair below.

| link window | alerts per pair | exactly one | pairs without an alert | exactly one A / B | without an alert A / B |
|---|---|---|---|---|---|
{link_table}

The pair left without an alert is eBay in the Mt. Gox story: an op-ed headline ("... eBay to the rescue?") that names
eBay and no word of Mt. Gox joins eBay's own story of the same afternoon (score 0.16, threshold 0.06; the Mt. Gox
story scores 0.03), so eBay's alert there is an update. It is a fair headline-only reading rather than a tuning gap: of the dev set's 75
joins decided by one name alone (at least 99 % of the score from one entity and the words of its name), this is the
only wrong one, and its score is in the middle of theirs (0.07-0.84): no threshold on such joins splits it off without
splitting many right ones. A link cannot help either, since the Mt. Gox story was never a candidate above threshold.

With a summary: the dev CSV has none, so the figure comes from {with_summary["gold_stories"]:.0f} BBC News articles
(`../shared/data/articles/bbc-news`), each carried by three artificial outlets (the BBC headline and its first two
sentences as the summary; the headline with three words dropped and the lead trimmed; the first 12 words of the first
sentence as the headline and the first three sentences, trimmed, as the summary), a story starting every 4 minutes over
20 hours and its three versions within two hours: with summaries {_fig(with_summary)}; the same stream with headlines
only {_fig(headlines)}. The threshold's growth with an article's body (`streams/story/decide.py`, `density`, exponent 2)
was set by reasoning and checked on this stream (exponent 1 gave P 0.69), so this stream is not a clean held-out figure
for it. Headlines alone on a stream this dense (15 stories an hour of the same five sections) merge unrelated stories:
the dev-tuned threshold is too permissive there.

Speed: the three story agents' own batch functions (`benchmarks/story_agents.py`: decoding, table reads and writes,
deciding, encoding every output; Kafka itself left out), batches of 200 articles, {rate:.0f} articles/s of CPU time =
**{rate / enrich:.0f} ×** the enrich step's CPU rate measured in the same run, {enrich:.1f} articles/s (target ≥ 50 ×;
against the extraction figure above, {enrich_docs_s:.1f} articles/s of wall time, {rate / enrich_docs_s:.0f} ×). Per batch an agent
reads and writes each table key once and sends one message per partition for the probes, answers and registrations
(about 50 messages per article before they were batched: 262 articles/s of a model of that path, and on a real broker
14 × slower than without the stage; batched, `tests/chaos/test_poison.py` with 1,000 messages stored every article in
70 s with the stage and 70 s without it, same machine and hour, 2026-12-02). With the garbage collector off the same
functions ran about 1.7 × faster (2026-12-02): the allocations of decoding (pydantic building the candidates of every
answer and the stories of every key read) are what is left to cut.

State over a simulated week: 100,000 synthetic articles over 7 days (stories of
Pareto-distributed sizes, 1 to 300 articles within a few hours, words from a 40,000-word vocabulary), window 72 h,
swept every simulated hour. The state grows for three days (the window) and then stays flat:

| day | stories | keys | stories at keys | articles remembered | table bytes (JSON, as the changelogs hold them) |
|---|---|---|---|---|---|
{days}

That is about **{per_1000 / 1e6:.1f} MB per 1,000 stories** of the window (all three tables, {full["stories"]:.0f} stories).
"""


def main() -> int:
    from streams.enrich.model import load_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("articles", nargs="?", type=int, default=100_000, help="articles of the simulated week")
    parser.add_argument("--speed", action="store_true", help="only the story stage's speed against the enrich step's")
    parser.add_argument("--markdown", action="store_true", help="also print the Stories section of docs/benchmarks.md")
    args = parser.parse_args()
    if not UCI.exists():
        print(f"benchmarks read real data from {DATA}; it is not there", file=sys.stderr)
        return 1
    nlp = load_model("en_core_web_sm")
    items, rules = uci_stream(nlp)
    if args.speed:  # the speed alone: the quality figures and the week take minutes
        rate, enrich = story_rate(items), enrich_rate(nlp)
        print(f"story stage {rate:.0f} articles/s, enrich {enrich:.1f} articles/s (CPU, one core): {rate / enrich:.1f} x")
        return 0
    print("headlines:", evaluate(items, rules))
    print("every article its own story:", evaluate(items, rules, singletons=True))
    print("the names as query rules:", query_figures(items, rules))
    for row in sweep(items, rules):
        print("sweep:", {k: round(v, 3) for k, v in row.items()})
    for row in link_sweep(items, rules):
        print("link sweep:", {k: round(v, 3) for k, v in row.items()})
    bbc = bbc_stream(nlp)
    print("summaries (BBC, artificial outlets):", evaluate(bbc, []))
    print("the same, headlines only:", evaluate(headlines_only(bbc), []))
    print(f"story stage {story_rate(items):.0f} articles/s, enrich {enrich_rate(nlp):.1f} articles/s (CPU, one core)")
    for row in state_over_week(args.articles):
        print("week:", row)
    if args.markdown:
        print(stories_section(nlp, enrich_rate(nlp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
