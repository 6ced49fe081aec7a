"""Chaos tests: workers killed and restarted, replays, poison messages, against the real broker."""
