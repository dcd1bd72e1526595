"""The participants' and hosts' web page: static files (plain ES modules and one stylesheet, no build step)
served by the gateway — the page at `/`, its assets under `/app/` — talking only to the public API and `/ws`."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; uploads may go to object storage (a presigned URL on another origin).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# What may be served: the folder's files by name, fixed at start, so no path can reach anything else.
ASSETS = {path.name: path for path in STATIC.iterdir() if path.suffix in MEDIA_TYPES}
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # The files are small and change with each release: always revalidate (ETag) rather than run a stale page.
    "cache-control": "no-cache",
}


def _file(path: Path, **headers: str) -> File:
    return File(path, content_disposition_type="inline", media_type=MEDIA_TYPES[path.suffix],
                headers={**HEADERS, **headers})


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> File:
    """The page itself; views are chosen by the URL's fragment (`#/board/recon`), so no other path serves it."""
    return _file(ASSETS["index.html"], **{"content-security-policy": CONTENT_SECURITY_POLICY})


@get("/app/{name:str}", include_in_schema=False, sync_to_thread=False)
def asset(name: FromPath[str]) -> File:
    if name not in ASSETS:
        raise NotFoundException(f"no file {name!r} in the web page")
    return _file(ASSETS[name])


# Only `/` and `/app/<file>`: every other path stays the API's (MLS-GOAT's routes at the root included).
web_page = Router(path="/", route_handlers=[index, asset], include_in_schema=False)
