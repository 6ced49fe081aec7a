"""What an operator or analyst changes by hand, as topic records: the one code path of the CLI and the dashboard."""

from __future__ import annotations

from schemas import AlertAck, WatchRule
from streams.clock import utcnow
from streams.errors import InputError

#: the longest note an acknowledgement keeps (the AlertAck schema's limit)
MAX_NOTE = 500


def make_ack(alert_id: str, by: str, note: str = "") -> AlertAck:
    """The acknowledgement of ``alert_id`` (keyed by it on ``wirewatch.acks``); raises :class:`InputError`."""
    alert_id = alert_id.strip()
    if not alert_id or len(alert_id) > 200 or any(ch.isspace() for ch in alert_id):
        raise InputError(f"{alert_id[:200]!r}: not an alert id (as `wirewatch alerts --json` shows them)")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InputError(f"a note of {len(note)} characters; at most {MAX_NOTE}")
    if by not in ("cli", "dashboard"):
        raise InputError(f"{by!r}: acknowledged by cli or dashboard")
    return AlertAck(alert_id=alert_id, acknowledged=utcnow(), by=by, note=note)


def with_enabled(rule: WatchRule, enabled: bool) -> WatchRule:
    """``rule`` switched on or off (the same id: the record replaces the rule on ``wirewatch.rules``)."""
    return rule.model_copy(update={"enabled": enabled})


def find_rule(rules: dict[str, WatchRule], rule_id: str) -> WatchRule:
    """The rule of ``rule_id`` or of the one id it starts (as `watch list` shows them); raises :class:`InputError`."""
    if rule_id in rules:
        return rules[rule_id]
    matches = sorted(key for key in rules if rule_id and key.startswith(rule_id))
    if len(matches) == 1:
        return rules[matches[0]]
    if matches:
        raise InputError(f"{rule_id!r} starts {len(matches)} rule ids ({', '.join(matches)}): give more of it")
    raise InputError(f"no watch rule {rule_id!r} (see `wirewatch watch list`)")
