"""The API's documentation page (`/docs`, Swagger UI) with its scripts, stylesheet and icon served by the gateway
itself, from the swagger-ui-bundle-v2 package (npm's swagger-ui-dist files): the page works with no internet."""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path

# The folder's name carries Swagger UI's version (`swagger-ui-5.31.0`), and so does every asset's URL: a new
# version is a new URL, so a browser may keep an asset for good.
ASSETS_PATH = f"/docs/assets/{swagger_ui_path.name}"
MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""What the page loads, by name: nothing else of the package's folder is served."""
HEADERS = {"cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff"}


def swagger_page() -> SwaggerRenderPlugin:
    """Swagger UI, pointed at the gateway's own copies of its assets (Litestar's defaults load them from a CDN)."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def docs_asset(name: FromPath[str]) -> File:
    if name not in MEDIA_TYPES:
        raise NotFoundException(f"no file {name!r} in the API documentation's assets")
    return File(swagger_ui_path / name, content_disposition_type="inline", media_type=MEDIA_TYPES[name],
                headers=HEADERS)
