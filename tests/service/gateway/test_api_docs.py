"""The API documentation page (`/docs`) loads only what the gateway serves: Swagger UI's files from the
swagger-ui-bundle-v2 package, with their media types and cache headers; in Chromium with every request to another
host refused, the page still renders the API."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from litestar.testing import AsyncTestClient
from playwright.async_api import Request, Route, async_playwright

from gateway.api_docs import ASSETS_PATH
from tests.web.conftest import chromium_path

# Every URL the page refers to: src and href attributes.
REFERENCED = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


async def test_the_docs_page_refers_only_to_the_gateways_own_assets(gateway: AsyncTestClient) -> None:
    page = await gateway.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
    urls = REFERENCED.findall(page.text)
    assert sorted(urls) == sorted(f"{ASSETS_PATH}/{name}" for name in (
        "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"))
    assert "cdn" not in page.text and "://" not in "".join(urls)
    for url in urls:
        asset = await gateway.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(TYPES[url[url.rfind("."):]]), (url, asset.headers)
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert asset.headers["x-content-type-options"] == "nosniff", url
        assert len(asset.content) > 500, url
    assert "SwaggerUIBundle" in (await gateway.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")).text


async def test_only_the_pages_assets_are_served(gateway: AsyncTestClient) -> None:
    for name in ("index.html", "index.j2", "swagger-initializer.js", "missing.js", "..%2F__init__.py"):
        assert (await gateway.get(f"{ASSETS_PATH}/{name}")).status_code == 404, name
    assert (await gateway.get(f"{ASSETS_PATH}/../../../pyproject.toml")).status_code == 404
    schema = (await gateway.get("/docs/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/docs")]


async def test_swagger_ui_renders_with_no_other_host_reachable(gateway_url: str) -> None:
    own = urlsplit(gateway_url).netloc
    elsewhere: list[str] = []

    async def only_the_gateway(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == own:
            await route.continue_()
        else:
            elsewhere.append(request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.route("**/*", only_the_gateway)
            await page.goto(f"{gateway_url}/docs")
            await page.locator(".swagger-ui .info .title").filter(has_text="Podium API").wait_for(timeout=30_000)
            operations = await page.locator(".swagger-ui .opblock").count()
        finally:
            await browser.close()
    assert elsewhere == [] and errors == []
    assert operations > 20
