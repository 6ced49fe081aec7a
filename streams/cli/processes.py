"""``wirewatch poller``, ``worker``, ``run`` and ``demo``: the processes, and the stack on the sample feeds."""

from __future__ import annotations

import logging
import os
import sys
from typing import get_args

import click

from streams.cli.common import console, fail, run_async
from streams.config import Settings, WorkerRole, get_settings


def _start_faust(role: str) -> None:
    from faust import Worker

    from streams.kafka.admin import ensure_topics
    from streams.logs import setup_logging
    from streams.web.access import binding_error

    settings = get_settings()
    problem = binding_error(settings)
    if problem is not None:
        fail(problem)
    if role == "worker" and settings.worker_role != "nlp":
        _check_default_destinations(settings)
    run_async(ensure_topics(settings, check_limits=True))
    setup_logging(settings)
    if role == "worker" and settings.worker_role != "nlp":
        from streams.deliver.specs import default_destinations, unsigned_warning, unsigned_webhooks

        unsigned = unsigned_webhooks(default_destinations(settings), settings)
        if unsigned:
            logging.getLogger("streams.deliver").warning("%s", unsigned_warning(unsigned))
    if role == "poller":
        import agents.poll  # noqa: F401 - registers the poller's agents
        from streams.kafka.apps import poller_app as app
    else:
        import agents.worker  # noqa: F401 - registers the worker's agents
        from streams.kafka.apps import worker_app as app
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None  # its terminal codes would break JSON log lines when output is not a terminal
    worker.execute_from_commandline()


def _check_default_destinations(settings: Settings) -> None:
    """Refuse to start a delivering worker whose default destinations could never receive an alert (exit 2)."""
    from streams.deliver.specs import validate_destination

    specs = [*settings.alert_destinations, *([settings.webhook_url] if settings.webhook_url else [])]
    for spec in specs:
        try:
            validate_destination(spec, settings)
        except ValueError as exc:
            fail(f"WIREWATCH_ALERT_DESTINATIONS / WIREWATCH_WEBHOOK_URL: {exc}")


@click.command()
def poller() -> None:
    """Run a poller process (one consumer-group member of wirewatch-poller)."""
    _start_faust("poller")


@click.command()
@click.option(
    "--role",
    type=click.Choice(get_args(WorkerRole)),
    default=None,
    help="all: every agent (the default, or WIREWATCH_WORKER_ROLE); nlp: only the enrich agent, in its own consumer "
    "group; core: every agent but enrich. Scale NLP apart by running nlp and core workers instead of all.",
)
def worker(role: str | None) -> None:
    """Run a worker process: enrich, alert, deliver and store (or one role's share of them)."""
    if role is not None:
        os.environ["WIREWATCH_WORKER_ROLE"] = role
        get_settings.cache_clear()  # the apps are created from the settings on import, after this
    _start_faust("worker")


@click.command()
@click.option("--feed", "extra_feeds", multiple=True, help="A real feed URL to poll besides the samples (repeatable).")
@click.option("--samples-port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port of the sample-feed server.")
def run(extra_feeds: tuple[str, ...], samples_port: int) -> None:
    """Run poller and worker on the sample feeds (plus --feed URLs); show alerts and counts until Ctrl-C."""
    from streams.cli.stack import run_stack
    from streams.web.access import binding_error

    problem = binding_error(get_settings())  # the children would refuse to start; say why here, once
    if problem is not None:
        fail(problem)
    feeds_env = [url for url in os.environ.get("WIREWATCH_FEEDS", "").split(",") if url.strip()]
    sys.exit(run_stack(list(extra_feeds) + feeds_env, samples_port, console=console))


@click.command()
@click.option("--timeout", type=float, default=240.0, show_default=True, help="Give up after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--keep", is_flag=True, help="Keep the run's folder (.local/demo/<id>/: database, logs); a failed run always keeps it.")
def demo(timeout: float, as_json: bool, keep: bool) -> None:
    """Process the sample feeds once on fresh topics, print a summary and exit (0 when alerts came out)."""
    from streams.cli.stack import run_demo

    sys.exit(run_demo(timeout, as_json, console, keep))
