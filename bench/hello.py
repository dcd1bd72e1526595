"""The reference for `make bench`'s leaderboard figures: a bare Litestar app answering a fixed JSON body."""

from litestar import Litestar, get


@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


app = Litestar(route_handlers=[hello])
