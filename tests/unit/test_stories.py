"""The story stage as pure functions: features, keys, the decision rule, story state, StoryIndex and the bad-input edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import EnrichedArticle, Entity
from streams.story import decide as decide_module
from streams.story.decide import freshness, story_id_for
from streams.story.features import LEAD_WORDS, MAX_KEYS, features_of, words
from streams.story.index import StoryIndex
from streams.story.keys import MAX_STORIES, KeyEntries, Snapshot
from streams.story.state import MAX_LINKED, StoryState, lifecycle, link, new_state, story_record
from tests import factories

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
ELK = Entity(id="e-elk", name="Elkhorn Dam", type="FAC")


def item(article_id: str, title: str, minutes: float = 0, host: str = "one.example", entities: list[Entity] | None = None,
         **fields: Any) -> EnrichedArticle:  # fmt: skip
    when = T0 + timedelta(minutes=minutes)
    values: dict[str, Any] = {"title": title, "url": f"https://{host}/{article_id}", "published": when, "fetched": when}
    article = factories.article(article_id, **(values | fields))
    return factories.enriched(article, *(entities or []))


def test_features_title_lead_url_entities_capped() -> None:
    features = features_of(item("a1", "Floodgates opened at the Elkhorn dam", entities=[ELK], summary="Engineers opened the gates.",
                                url="https://one.example/2026/elkhorn-dam-floodgates"))  # fmt: skip
    assert features.keys[0] == "e:e-elk"  # entities first
    assert {"w:floodgat", "w:elkhorn", "w:dam", "w:engin", "w:gate"} <= set(features.keys)
    assert features.terms["w:floodgat"] == 1.0 and features.terms["w:engin"] == 0.5  # title words count double
    assert "w:the" not in features.terms and "w:2026" not in features.terms  # stop words and numbers out
    assert len(features_of(item("a2", " ".join(f"word{i}x" for i in range(100)))).keys) == MAX_KEYS


@pytest.mark.parametrize("size", [0, 1_000_000], ids=["empty-text", "1MB-text"])
def test_text_of_any_size_reads_only_its_lead(size: int) -> None:
    text = ("Elkhorn gates opened. " * (size // 22 + 1))[:size]
    features = features_of(item("a1", "Gates opened", text=text))
    lead = [key for key, weight in features.terms.items() if weight == 0.5]
    assert len(lead) <= LEAD_WORDS
    assert ("w:elkhorn" in features.terms) is (size > 0)


def test_only_a_title_and_a_language_the_model_does_not_read_still_cluster() -> None:
    index = StoryIndex()
    finnish = [item("f1", "Elkhornin pato avattiin tulvan vuoksi", language="fi", entities=[ELK]),
               item("f2", "Elkhornin pato avattiin aamulla", 30, "two.example", language="fi", entities=[ELK]),
               item("x1", "Satama suljettiin myrskyn takia", 40, "three.example", language="fi")]  # fmt: skip
    ids = [index.add(one).outcome.item.story_id for one in finnish]
    assert ids[0] == ids[1] == story_id_for("f1") and ids[2] == story_id_for("x1")
    # spaCy's English model reads none of it; Finnish stop words and Snowball's Finnish stemmer still apply
    assert features_of(finnish[0]).language == "fi" and {"w:elkhorn", "w:pato"} <= set(features_of(finnish[0]).terms)


def test_a_camel_case_hashtag_counts_as_the_words_outlets_write_out() -> None:
    assert words("Parents rally to #SaveRedmoorLibrary", "en") == words("Parents rally to save Redmoor library", "en")
    # a tag that starts small is a product's name, one without a capital inside has no marked word ends: one word each
    assert words("#iPhone6 review, #savethelibrary", "en") == ["iphone6", "review", "savethelibrari"]


def stream() -> list[EnrichedArticle]:
    """One story told by three outlets in their own words, and an unrelated one in between."""
    return [
        item("a1", "Floodgates opened at the Elkhorn dam as the river rises", 0, "one.example", [ELK]),
        item("b1", "Harbour closed in Saltmere before the storm", 10, "four.example"),
        item("a2", "Elkhorn dam releases water after heavy rain", 40, "two.example", [ELK]),
        item("a3", "Engineers open Elkhorn floodgates; villages downstream warned", 95, "three.example", [ELK]),
    ]


def test_one_story_across_outlets_in_different_words() -> None:
    index = StoryIndex()
    steps = [index.add(one) for one in stream()]
    stories = [step.outcome.item.story_id for step in steps]
    assert stories == [story_id_for("a1"), story_id_for("b1"), story_id_for("a1"), story_id_for("a1")]
    assert [step.outcome.decision.opened for step in steps if step.outcome.decision] == [True, True, False, False]
    record = steps[-1].story
    assert record is not None and record.article_count == 3 and record.source_count == 3
    assert record.sources == ["one.example", "two.example", "three.example"]
    assert record.top_entities[0].name == "Elkhorn Dam" and record.top_entities[0].articles == 3
    assert "Elkhorn" in record.headline and record.languages == ["en"]
    # every article's mentions carry the story id too
    assert all(m.story_id == stories[2] for m in index.add(stream()[2], [factories.mention("a2")]).outcome.mentions)


def test_replay_duplicate_ids_and_revisions_keep_the_story_and_count_once() -> None:
    index = StoryIndex()
    first = [index.add(one).outcome.item.story_id for one in stream()]
    again = [index.add(one) for one in stream()]  # the same articles again: a replay, or duplicate ids in the input
    assert [step.outcome.item.story_id for step in again] == first
    assert all(step.outcome.decision is None and step.story is None for step in again)  # recalled, not decided again
    revised = index.add(stream()[0].model_copy(update={"article": stream()[0].article.model_copy(update={"revision": 2})}))
    assert revised.outcome.item.story_id == first[0] and revised.story is None
    assert index.stories[first[0]].count == 3
    # from scratch, in the same order, the ids are the same: derived, never random
    assert [StoryIndex().add(one).outcome.item.story_id for one in stream()[:1]] == first[:1]
    fresh = StoryIndex()
    assert [fresh.add(one).outcome.item.story_id for one in stream()] == first


def test_out_of_order_articles_join_and_keep_first_and_last_seen() -> None:
    index = StoryIndex()
    articles = stream()
    steps = [index.add(one) for one in (articles[3], articles[0], articles[2])]  # the latest first
    assert len({step.outcome.item.story_id for step in steps}) == 1
    state = index.stories[steps[0].outcome.item.story_id]
    assert state.first == articles[0].article.published.timestamp() and state.last == articles[3].article.published.timestamp()


def test_future_date_is_suspect_and_taken_at_fetch_time() -> None:
    future = item("f", "Elkhorn dam opened", 0, fetched=T0, published=T0 + timedelta(days=3))
    features = features_of(future)
    assert features.suspect_date and features.time == T0.timestamp()


def test_an_article_from_years_ago_never_joins_todays_story() -> None:
    index = StoryIndex()
    index.add(stream()[0])
    old = item("old", "Floodgates opened at the Elkhorn dam as the river rises", 0, "two.example", [ELK],
               published=T0 - timedelta(days=3 * 365), fetched=T0)  # fmt: skip
    step = index.add(old)
    assert step.outcome.item.story_id == story_id_for("old")
    assert freshness(T0.timestamp(), (T0 - timedelta(days=3 * 365)).timestamp()) < 1e-6


def test_threshold_decides_and_ties_go_to_the_smaller_story_id() -> None:
    loose, strict = StoryIndex(threshold=0.0001), StoryIndex(threshold=0.99)
    for one in stream():
        loose.add(one)
        strict.add(one)
    # a story sharing no key with another is never its candidate, however low the threshold
    assert len(loose.stories) == 2 and len(strict.stories) == 4
    assert decide_module.THRESHOLD == 0.06  # the documented choice (docs/benchmarks.md, "Stories")


def test_key_entries_hold_register_prune_and_cap() -> None:
    window = 3600.0
    entries = KeyEntries().hold("a1", "s-a1", 0.5, 0.0, window)
    answer = entries.answer("w:dam", "a2")
    assert [(c.story, c.size) for c in answer.candidates] == [("s-a1", 1)] and answer.spread == 1
    assert entries.answer("w:dam", "a1").candidates == []  # an article never sees itself
    entries = entries.register("a1", "s1", 0.5, 0.0, Snapshot(size=1, norm=1.0, last=0.0), window)
    assert not entries.pending and entries.stories["s1"].weight == 0.5
    assert entries.register("a1", "s1", 0.5, 0.0, Snapshot(size=1, norm=1.0, last=0.0), window).stories["s1"].weight == 0.5  # once
    assert entries.register("a9", "s9", 0.1, 2 * window, Snapshot(), window).stories.keys() == {"s9"}  # s1 fell out of the window
    for n in range(MAX_STORIES + 30):  # a key as common as "US": the most recent stories only
        entries = entries.register(f"c{n}", f"s{n}", 0.1, float(n), Snapshot(last=float(n)), 1e9)
    assert len(entries.stories) == MAX_STORIES and f"s{MAX_STORIES + 29}" in entries.stories


def test_lifecycle_new_growing_steady_fading() -> None:
    index = StoryIndex()
    story = None
    for n in range(6):  # one an hour for six hours, then a burst
        story = index.add(item(f"a{n}", "Elkhorn dam floodgates opened", 60 * n, f"s{n}.example", [ELK])).state
    assert story is not None
    now = story.last
    assert lifecycle(story, story.first + 600) == "new"
    assert lifecycle(story, now) == "steady"
    for n in range(5):
        story = index.add(item(f"b{n}", "Elkhorn dam floodgates opened again", 300 + 10 + n, f"t{n}.example", [ELK])).state
    assert story is not None and lifecycle(story, story.last) == "growing"
    assert lifecycle(story, story.last + 7 * 3600) == "fading"
    record = story_record(story)
    assert record.velocity >= 5 and sum(record.per_hour) == record.article_count == 11


def test_state_is_bounded_by_the_window_it_plateaus() -> None:
    from benchmarks.story_week import synthetic_week

    items = synthetic_week(4_000, days=6.0, seed=3)
    index = StoryIndex(window_seconds=24 * 3600.0)
    counts: list[dict[str, int]] = []
    next_sweep = items[0].article.fetched.timestamp()
    for one in items:
        now = one.article.fetched.timestamp()
        if now >= next_sweep:
            index.sweep(now)
            counts.append(index.sizes())
            next_sweep = now + 6 * 3600
        index.add(one)
    # after the first day (the window) the state stops growing: the last days hold no more than the second day's peak
    settled = counts[4:8]  # day 1 to 2
    later = counts[12:]
    for name in ("keys", "key_stories", "articles", "stories"):
        assert max(row[name] for row in later) <= 1.25 * max(row[name] for row in settled), (name, counts)
        assert max(row[name] for row in later) < sum(row[name] for row in counts), name


def test_a_story_kept_active_stops_absorbing_hours_after_it_began() -> None:
    # the same report every 45 minutes from a new outlet: the story is never quiet, but it grows old
    trickle = [item(f"t{n}", "Elkhorn dam floodgates opened after flood warning", 45 * n, f"h{n}.example") for n in range(16)]
    aged, fixed = StoryIndex(), StoryIndex(age_half_life_hours=1e9)
    by_age = [aged.add(one).outcome.item.story_id for one in trickle]
    by_quiet = [fixed.add(one).outcome.item.story_id for one in trickle]
    assert set(by_quiet) == {story_id_for("t0")}  # quiet time alone: one story absorbs a whole day's trickle
    assert by_age[:8] == [story_id_for("t0")] * 8  # the first six hours join the story that opened them
    assert by_age[-1] != story_id_for("t0")  # eleven hours on, the story began too long ago: a new one opens
    opened = next(n for n, story in enumerate(by_age) if story != story_id_for("t0"))
    assert by_age[opened:] == [story_id_for(f"t{opened}")] * (16 - opened)  # and the trickle joins the new one


def test_age_factor_halves_per_half_life_and_ignores_what_it_does_not_know() -> None:
    hour = 3600.0
    assert decide_module.age(2 * hour, 0.0, 2.0) == 0.5 and decide_module.age(4 * hour, 0.0, 2.0) == 0.25
    assert decide_module.age(0.0, 2 * hour, 2.0) == 1.0  # an article earlier than the story's first: freshness weighs that
    assert decide_module.age(10 * hour, None) == 1.0  # a key entry written before stories carried their first time


def test_key_entries_carry_the_story_first_time_and_read_entries_without_it() -> None:
    entries = KeyEntries().register("a1", "s1", 0.5, 50.0, Snapshot(size=1, norm=1.0, last=50.0, first=50.0), 1e9)
    entries = entries.register("a2", "s1", 0.5, 90.0, Snapshot(size=2, norm=1.4, last=90.0, first=40.0), 1e9)
    [candidate] = entries.answer("w:dam", "a3").candidates
    assert (candidate.size, candidate.last, candidate.first) == (2, 90.0, 40.0)  # the earliest first seen
    pending = KeyEntries().hold("p1", "s-p1", 0.5, 70.0, 1e9).answer("w:dam", "a3").candidates
    assert [(c.story, c.first) for c in pending] == [("s-p1", 70.0)]  # a story in flight began with its article
    # a value stored before the first time was kept (story tuples of five) still decodes, its first unknown
    old = KeyEntries.loads(b'{"stories": {"s1": [1.0, 90.0, 2, 1.4, 90.0]}, "recent": ["a1"], "schema_version": 1}')
    assert old.stories["s1"].first is None and old.answer("w:dam", "a3").candidates[0].first is None


def test_an_article_that_would_join_two_stories_of_one_burst_links_them() -> None:
    # two stories opened by headlines sharing no word, then one headline that would join either (the same market day
    # split by the order its first reports came in): it joins one and links the other
    index = StoryIndex()
    index.add(item("m1", "Wall Street slips on weak China exports", 0, "a.example"))
    index.add(item("m2", "Asian shares slide ahead of Bank of Japan", 1, "b.example"))
    both = index.add(item("m3", "Wall Street slips, Asian shares slide on weak China exports", 2, "c.example")).outcome
    assert both.decision is not None and not both.decision.opened
    joined, other = both.decision.story_id, ({story_id_for("m1"), story_id_for("m2")} - {both.decision.story_id}).pop()
    assert both.decision.linked == (other,)
    assert joined in (story_id_for("m1"), story_id_for("m2"))


def test_stories_opened_further_apart_than_a_burst_are_not_linked() -> None:
    # the same three headlines, the second story opened 40 minutes after the first: another development, not a split
    index = StoryIndex()
    index.add(item("m1", "Wall Street slips on weak China exports", 0, "a.example"))
    index.add(item("m2", "Asian shares slide ahead of Bank of Japan", 40, "b.example"))
    both = index.add(item("m3", "Wall Street slips, Asian shares slide on weak China exports", 41, "c.example")).outcome
    assert both.decision is not None and not both.decision.opened and both.decision.linked == ()
    # and no window, no link (what the benchmark's sweep starts from)
    unlinked = StoryIndex(link_seconds=0)
    for n, title in enumerate(["Wall Street slips on weak China exports", "Asian shares slide ahead of Bank of Japan"]):
        unlinked.add(item(f"m{n + 1}", title, n, f"h{n}.example"))
    late = unlinked.add(item("m3", "Wall Street slips, Asian shares slide on weak China exports", 2, "c.example")).outcome
    assert late.decision is not None and not late.decision.opened and late.decision.linked == ()
    assert decide_module.LINK_SECONDS == 300  # the documented choice (docs/benchmarks.md, "Stories")


def test_a_story_names_at_most_eight_linked_stories_never_itself_and_a_link_twice_changes_nothing() -> None:
    state = new_state("s0", 0.0)
    linked = link(state, ["s0", "s1", "s2", "s1"])
    assert linked is not None and linked.linked == ["s1", "s2"]
    assert link(linked, ["s2"]) is None  # known already: nothing to write, no record to publish
    crowded = link(linked, [f"x{n}" for n in range(20)])
    assert crowded is not None and crowded.linked == ["s1", "s2", *(f"x{n}" for n in range(6))] and len(crowded.linked) == MAX_LINKED
    assert StoryState.loads(crowded.dumps()).linked == crowded.linked
