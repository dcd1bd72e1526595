"""The participants' and hosts' web page: static files (plain ES modules and one stylesheet, no build step)
served by the gateway — the page at `/`, its assets under `/app/` — talking only to the public API and `/ws`."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; uploads may go to object storage (a presigned URL on another origin).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # The page is tiny and changes with each release: always revalidate rather than serve a stale one.
    "cache-control": "no-cache",
}


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> Response:
    """The page itself; views are chosen by the URL's fragment (`#/board/recon`), so no other path serves it."""
    return File(STATIC / "index.html", content_disposition_type="inline", media_type="text/html; charset=utf-8",
                headers=PAGE_HEADERS)


# Only `/` and `/app/...`: every other path stays the API's (MLS-GOAT routes at the root included).
assets = create_static_files_router(path="/app", directories=[STATIC], name="web-assets", include_in_schema=False,
                                    cache_control=CacheControlHeader(no_cache=True))
web_page = Router(path="/", route_handlers=[index, assets], include_in_schema=False)
