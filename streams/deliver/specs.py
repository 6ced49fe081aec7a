"""Destination specs (``https://...``, ``slack:``, ``mailto:``, ``file:``, ``console``, ``digest:PERIOD:``): parsed, checked, named."""

from __future__ import annotations

import re
from pathlib import Path

from schemas import Alert
from streams import ids
from streams.config import Settings
from streams.deliver.base import Destination
from streams.deliver.email import EmailDestination, SMTPSettings
from streams.deliver.local import ConsoleDestination, FileDestination
from streams.deliver.slack import SlackDestination
from streams.deliver.webhook import WebhookDestination, check_url
from streams.errors import InputError
from streams.http.guard import AddressGuard
from streams.text import mask_destination

_DIGEST_SPEC = re.compile(r"^digest:(hourly|daily):(.+)$")


def parse_destination(spec: str, settings: Settings, guard: AddressGuard | None = None) -> Destination:
    """The destination a spec names; raises ValueError with the reason when it cannot be one.

    ``https://host/path`` (a Standard Webhooks endpoint, signed with ``WIREWATCH_WEBHOOK_SECRET``),
    ``slack:https://hooks.slack.com/services/...``, ``mailto:a@example.org,b@example.org`` (via
    ``WIREWATCH_SMTP_*``), ``file:PATH`` (JSON lines) or ``console``; ``digest:hourly:`` or ``digest:daily:``
    before a webhook, Slack or e-mail spec sends that destination one summary per period instead.
    """
    guard = guard or AddressGuard(settings.fetch_allow_hosts)
    digest = _DIGEST_SPEC.match(spec.strip())
    if digest:
        destination = parse_destination(digest.group(2), settings, guard)
        if not destination.digests:
            raise InputError(f"destination {mask_destination(spec)!r}: only webhook, Slack and e-mail destinations take digests")
        destination.digest_period = "hourly" if digest.group(1) == "hourly" else "daily"
        return destination
    retry = {"attempts": settings.delivery_attempts, "base_delay": settings.delivery_base_delay_seconds,
             "max_delay": settings.delivery_max_delay_seconds}  # fmt: skip
    spec = spec.strip()
    if spec == "console":
        return ConsoleDestination()
    if spec.startswith("file:"):
        path = spec.removeprefix("file:").removeprefix("//")
        if not path:
            raise InputError("destination file: needs a path, e.g. file:alerts.jsonl (inside WIREWATCH_FILE_DESTINATION_DIR)")
        if settings.alerts_file is not None and Path(path) == settings.alerts_file:
            return FileDestination(settings.alerts_file)  # the operator's own alerts file, wherever it is
        root = settings.file_destinations_root()
        return FileDestination(confined_path(path, root), root)
    if spec.startswith("slack:"):
        return SlackDestination(spec.removeprefix("slack:"), guard, min_interval=settings.slack_min_interval_seconds, **retry)
    if spec.startswith("mailto:"):
        if not settings.smtp_host:
            raise InputError(f"destination {spec}: set WIREWATCH_SMTP_HOST to send e-mail")
        smtp = SMTPSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
        recipients = [r.strip() for r in spec.removeprefix("mailto:").split(",") if r.strip()]
        return EmailDestination(recipients, smtp, guard, **retry)
    if spec.lower().startswith(("http://", "https://")):
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        return WebhookDestination(spec, secret, guard, **retry)
    raise InputError(f"destination {mask_destination(spec)!r}: expected https://..., slack:https://..., mailto:..., file:PATH or console")


def confined_path(path: str, root: Path) -> Path:
    """``path`` (relative paths are taken inside ``root``) resolved, symlinks and ``..`` included, when it lies inside ``root``.

    Anyone who may write the rules topic names file destinations; without this a rule could make every worker
    append to any file the worker can write (a crontab, a shell profile, the database).
    """
    if "\x00" in path:
        raise InputError("destination file: a path cannot hold a NUL character")
    try:
        resolved = (root / path).resolve()  # an absolute path replaces root
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"destination file:{path}: cannot be resolved: {exc}") from exc
    if resolved == root or not resolved.is_relative_to(root):
        raise InputError(
            f"destination file:{path}: outside the file destination directory {root} (WIREWATCH_FILE_DESTINATION_DIR); "
            "name a file inside it, e.g. file:alerts.jsonl"
        )
    return resolved


def validate_destination(spec: str, settings: Settings) -> None:
    """Check a spec as ``wirewatch watch add --destination`` accepts it (URL and address literal included)."""
    destination = parse_destination(spec, settings)
    if isinstance(destination, WebhookDestination | SlackDestination):
        check_url(destination.url, destination.guard)


def default_destinations(settings: Settings) -> list[str]:
    """Where an alert goes when its rule names no destination: ``WIREWATCH_ALERT_DESTINATIONS`` and the webhook."""
    specs = list(settings.alert_destinations)
    if settings.webhook_url and settings.webhook_url not in specs:
        specs.append(settings.webhook_url)
    return specs


def destinations_for(alert: Alert, settings: Settings) -> list[str]:
    """Every destination of one alert: the console and alerts file always, then the rule's own or the defaults."""
    specs = ["console"]
    if settings.alerts_file is not None:
        specs.append(f"file:{settings.alerts_file}")
    for spec in alert.destinations or default_destinations(settings):
        if spec not in specs:
            specs.append(spec)
    return specs


def destination_id(spec: str) -> str:
    """The key of a destination on ``wirewatch.destinations`` (specs hold tokens, so the key is a hash)."""
    return ids.stable_id("destination", spec.strip())


def unsigned_webhooks(specs: list[str], settings: Settings) -> list[str]:
    """The webhook destinations among ``specs`` (masked) whose alerts go out unsigned: no ``WIREWATCH_WEBHOOK_SECRET``.

    Slack webhooks are not signed by design (Slack authenticates by the URL itself), so only Standard Webhooks count.
    """
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return []
    unsigned = []
    for spec in specs:
        digest = _DIGEST_SPEC.match(spec.strip())
        inner = digest.group(2) if digest else spec.strip()
        if inner.lower().startswith(("http://", "https://")):
            unsigned.append(mask_destination(spec))
    return unsigned


def unsigned_warning(names: list[str]) -> str:
    """The warning for webhook destinations without a signing secret."""
    return (
        f"webhook destination(s) {', '.join(names)} get alerts unsigned: set WIREWATCH_WEBHOOK_SECRET so receivers can "
        "verify them (Standard Webhooks webhook-signature)"
    )
