"""How the gateway serves the page: `/` and `/app/*` only, with a strict content security policy, outside the
OpenAPI document; every API route (MLS-GOAT's at the root included) answers as before."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from gateway.web import STATIC


async def test_the_page_and_its_assets(gateway: AsyncTestClient) -> None:
    page = await gateway.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/app/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src" not in policy  # no inline script, no other origin
    for asset in sorted(p.name for p in STATIC.iterdir()):
        response = await gateway.get(f"/app/{asset}")
        assert response.status_code == 200, asset
    assert (await gateway.get("/app/app.js")).headers["content-type"].startswith("text/javascript")
    assert (await gateway.get("/app/missing.js")).status_code == 404
    assert (await gateway.get("/app/../pyproject.toml")).status_code == 404


async def test_the_page_shadows_no_api_route(gateway: AsyncTestClient) -> None:
    assert (await gateway.get("/teams/")).status_code == 401
    assert (await gateway.get("/leaderboard/recon")).headers["content-type"].startswith("application/json")
    assert (await gateway.post("/auth/login", json={"name": "nobody", "password": "x"})).status_code == 401
    missing = await gateway.get("/no-such-page")
    assert missing.status_code == 404 and "html" not in missing.headers["content-type"]
    assert (await gateway.post("/", json={})).status_code == 405
    schema = (await gateway.get("/docs/openapi.json")).json()
    assert not [path for path in schema["paths"] if path == "/" or path.startswith("/app")]
