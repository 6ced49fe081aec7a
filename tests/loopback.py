"""Real aiohttp servers on loopback for the tests: one helper, so every test serves the same way."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host`` (a free port unless given); stop it with ``await runner.cleanup()``."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def documents_server(host: str, content_type: str) -> AsyncIterator[tuple[dict[str, bytes], str]]:
    """A server on ``host`` answering ``<base>/<name>`` with the bytes a test puts under ``name`` in the dict: the dict
    and the base URL."""
    bodies: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type=content_type)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner, port = await serve(app, host)
    try:
        yield bodies, f"http://{host}:{port}"
    finally:
        await runner.cleanup()
