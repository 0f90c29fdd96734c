"""The price feed: re-read `[prices] refresh_url` on a schedule and re-price the book, off the request path.

One background task per process: fetch (aiohttp for http(s), a thread for a local file), parse in a
thread (litellm's file is a few MB of JSON), then swap the book's table. Requests never wait for it.
A refresh that fails (unreachable, HTTP error, too large, not JSON, an invalid entry) keeps the prices
in place and logs a warning that names the URL without credentials, query string or fragment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from proxy.upstream.prices import PriceBook, PriceFileError, parse_price_file

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024 * 1024  # litellm's file is a few MB; anything far larger is not a price file


class PriceFeed:
    def __init__(self, book: PriceBook, url: str, interval_s: float) -> None:
        self.book = book
        self.url = url
        self.interval_s = interval_s
        self.failures = 0  # refreshes that left the prices as they were
        self.last_success: float | None = None  # unix time
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def remote(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    async def start(self) -> None:
        if self.remote:
            timeout = aiohttp.ClientTimeout(total=max(10.0, min(self.interval_s, 120.0)))
            self._session = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.create_task(self._refresh_forever(), name="price-feed")
        self._task.add_done_callback(self._stopped)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> bool:
        """Fetch and apply the price file once; False (prices unchanged, warning logged) when it fails."""
        try:
            raw = await self._fetch()
            entries = await asyncio.to_thread(parse_price_file, raw)
            changed = self.book.apply(entries)
        except (PriceFileError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failures += 1
            log.warning("price refresh from %s failed, keeping the current prices: %s", self.where, _reason(exc))
            return False
        self.last_success = time.time()
        if changed:
            log.info("prices refreshed from %s: %s", self.where, ", ".join(sorted(changed)))
        return True

    @property
    def where(self) -> str:
        """The URL as it may be logged: no user, password, query string or fragment."""
        if not self.remote:
            return self.url
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the price feed stopped; prices stay as they are until a restart", exc_info=task.exception())

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval_s)

    async def _fetch(self) -> bytes:
        if not self.remote:
            path = Path(self.url.removeprefix("file://"))
            size = (await asyncio.to_thread(path.stat)).st_size
            if size > MAX_BYTES:
                raise PriceFileError(f"file is {size} bytes, more than {MAX_BYTES}")
            return await asyncio.to_thread(path.read_bytes)
        assert self._session is not None, "start() first"
        async with self._session.get(self.url) as resp:
            if resp.status != 200:
                raise PriceFileError(f"HTTP {resp.status}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise PriceFileError(f"response is larger than {MAX_BYTES} bytes")
            return bytes(body)


def _reason(exc: Exception) -> str:
    """Why a refresh failed, without echoing the URL (aiohttp's messages can hold its query string)."""
    if isinstance(exc, PriceFileError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__
