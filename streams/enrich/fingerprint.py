"""Text fingerprints carried on mentions: lower-cased words, a 64-bit SimHash sketch of title and text, the source host."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import numpy as np

SKETCH_BITS = 64
SHINGLE_WORDS = 3
MIN_SKETCH_WORDS = 80  # shorter texts get no sketch (see sketch())

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The lower-cased words of a text (what sketches and name matching compare)."""
    return _WORD.findall(text.casefold())


def simhash(text: str) -> int:
    """A 64-bit SimHash (Charikar) of the text's lower-cased word 3-shingles; similar texts get close hashes."""
    tokens = words(text)
    if not tokens:
        return 0
    shingles = [" ".join(tokens[i : i + SHINGLE_WORDS]) for i in range(max(1, len(tokens) - SHINGLE_WORDS + 1))]
    digests = b"".join(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest() for s in shingles)
    # one row of 64 bits per shingle (most significant first); a bit of the sketch is set where most shingles have it
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(-1, SKETCH_BITS)
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(shingles)
    return int.from_bytes(np.packbits(votes > 0).tobytes(), "big")


def sketch(title: str, text: str) -> str:
    """The near-duplicate sketch carried on mentions: 16 hex digits of the SimHash of title and text.

    Empty for texts under MIN_SKETCH_WORDS words: there a few changed words move most shingles, so two
    different short stories from one template ("X opens depot 12 in Y") can land as close as copies do;
    short texts are grouped by canonical URL and content hash only.
    """
    if len(words(text)) < MIN_SKETCH_WORDS:
        return ""
    return f"{simhash(title + chr(10) + text):016x}"


def distance(a: str, b: str) -> int:
    """Hamming distance of two hex sketches."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def source_of(url: str) -> str:
    """The independent source an article comes from: its host without ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")
