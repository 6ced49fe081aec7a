"""Prometheus metrics of the story stage."""

from __future__ import annotations

from prometheus_client import Counter

ARTICLES_ASSIGNED = Counter("wirewatch_story_articles_total", "Articles assigned to a story (each once)")
STORIES_OPENED = Counter("wirewatch_stories_opened_total", "Stories opened (an article that joined none)")
