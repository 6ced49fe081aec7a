"""The spaCy child process: the same docs and extractions as in-process spaCy, a death that fails one call, not the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.config import get_settings
from streams.enrich.child import ChildPipeline
from streams.enrich.step import extract_texts
from streams.errors import ChildDied
from tests.e2e.helpers import alive, wait_for

ROOT = Path(__file__).resolve().parents[2]

#: our own sentences: names, places, numbers, a line-broken headline, a long text that is parsed in chunks
TEXTS = [
    "Harbour workers in Rotterdam walked out on Tuesday, the union FNV said.\nPort talks stall",
    "Maria Lindqvist, chief executive of Nordhavn Shipping, said 1,200 jobs would go by March.",
    "Protesters clashed with police in Valparaiso after the government of Chile raised fares by 30 percent.",
    "",
    "Short",
    " ".join(["The council of Leeds met Jane Okafor in York on Friday to discuss the flooding."] * 40),
]


@pytest.fixture(scope="module")
def child() -> Iterator[ChildPipeline]:
    pipeline = ChildPipeline(get_settings().spacy_model, group=2)
    pipeline.open()
    yield pipeline
    pipeline.close()


def annotations(doc: Any) -> tuple[Any, ...]:
    """Everything the extraction reads of a doc."""
    tokens = [(t.text, t.whitespace_, t.tag_, t.pos_, t.dep_, t.head.i, t.ent_iob_, t.ent_type_, t.is_sent_start) for t in doc]
    return tuple(tokens), tuple((e.start_char, e.end_char, e.label_) for e in doc.ents), tuple((s.start, s.end) for s in doc.sents)


def test_child_docs_are_the_in_process_docs(child: ChildPipeline, nlp: Any) -> None:
    here = [annotations(doc) for doc in nlp.pipe(TEXTS, batch_size=4)]
    there = [annotations(doc) for doc in child.pipe(TEXTS, batch_size=4)]
    assert len(there) == len(TEXTS)
    assert there == here
    assert any(entities for _, entities, _ in there), "the texts must hold entities for the comparison to mean something"


def test_child_extractions_are_the_in_process_extractions(child: ChildPipeline, nlp: Any) -> None:
    texts = [*TEXTS, "x" * 10] * 3  # more texts than one group, so the groups' order is checked too
    here = extract_texts(nlp, texts, batch_size=4)
    there = extract_texts(child, texts, batch_size=4)
    assert [e.entities for e in there] == [e.entities for e in here]
    assert [e.events for e in there] == [e.events for e in here]
    assert child.meta.get("wirewatch_name") == nlp.meta.get("wirewatch_name")


def test_a_killed_child_fails_the_call_in_flight_and_the_next_call_starts_a_new_one() -> None:
    pipeline = ChildPipeline(get_settings().spacy_model, group=1)
    try:
        pipeline.open()
        first = pipeline.pid()
        assert first is not None
        docs = pipeline.pipe(TEXTS)
        next(docs)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(ChildDied, match="child process died"):
            list(docs)
        assert [doc.text for doc in pipeline.pipe(TEXTS[:2])] == TEXTS[:2]
        assert pipeline.pid() not in (None, first)
    finally:
        pipeline.close()


def test_the_child_ignores_sigterm_and_dies_with_its_worker(tmp_path: Path) -> None:
    """A SIGTERM to the worker's process group leaves the child parsing; a worker killed outright takes it along."""
    script = (
        "import sys, time\n"
        "from streams.config import get_settings\n"
        "from streams.enrich.child import ChildPipeline\n"
        "p = ChildPipeline(get_settings().spacy_model)\n"
        "p.open()\n"
        "print(p.pid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert worker.stdout is not None
        pid = int(worker.stdout.readline())
        os.kill(pid, signal.SIGTERM)
        time.sleep(1)
        assert alive(pid), "the child must leave SIGTERM to its worker"
        worker.kill()
        worker.wait(30)
        wait_for("the child to end with its worker", lambda: not alive(pid), 30, interval=0.2)
    finally:
        worker.kill()
