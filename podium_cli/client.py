"""A small typed client of Podium's public API (the gateway) over httpx: signs requests with the stored token,
refreshes an expired access token with the refresh token, and turns every failure — an RFC 9457 problem, a
platform that cannot be reached, a timeout — into a `click.ClickException` whose message a person can act on."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import Any, Literal

import click
import httpx

from podium_cli.credentials import Credentials, CredentialStore, url_key

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0
# "required": fail unless logged in; "optional": sign in if we can (admins see more); "none": never sign.
Auth = Literal["required", "optional", "none"]


def _user_agent() -> str:
    try:
        return f"podium-cli/{metadata.version('podium')}"
    except metadata.PackageNotFoundError:
        return "podium-cli"


class ApiError(click.ClickException):
    """The platform answered with an error: its `detail`, the HTTP status, and the problem's other members (e.g.
    `task` and `field` of a refused competition document, `current_version` of a stale edit)."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{detail} (HTTP {status})")
        self.status = status
        self.detail = detail
        self.problem = problem or {}


class NotLoggedIn(click.ClickException):
    pass


def problem_detail(response: httpx.Response) -> str:
    """The human part of an error answer: RFC 9457's `detail` (with validation errors), else the body or reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("detail"):
        detail = str(body["detail"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += ": " + "; ".join(
                f"{e.get('key', '')} {e.get('message', '')}".strip() if isinstance(e, dict) else str(e)
                for e in errors[:3])
    else:
        detail = response.text.strip()[:200] or response.reason_phrase or "error"
    retry_after = response.headers.get("retry-after")
    if retry_after and response.status_code in (429, 503):
        detail += f"; retry after {retry_after} s"
    return detail


def problem_members(response: httpx.Response) -> dict[str, Any]:
    """An RFC 9457 problem's members as a dict (empty when the answer is not one)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def websocket_url(base_url: str, path: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + path
    return "ws://" + base_url.removeprefix("http://") + path


class PodiumClient:
    """One Podium, one account (the one stored for this URL by `podium login`, or a given token)."""

    def __init__(self, url: str, store: CredentialStore, *, token: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url_key(url)
        self.store = store
        self.fixed_token = token
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s, headers={"user-agent": _user_agent()})
        self._credentials: Credentials | None = None
        self._loaded = False
        self._persist = True  # whether a refreshed pair goes back to the credentials file

    def close(self) -> None:
        self.http.close()

    # --- tokens ---------------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials | None:
        if not self._loaded:
            self._credentials, self._loaded = self.store.load(self.url), True
        return self._credentials

    @property
    def logged_in(self) -> bool:
        return self.fixed_token is not None or self.credentials is not None

    def login(self, name: str, password: str, *, remember: bool = True) -> Credentials:
        tokens = self.request_json("POST", "/api/v1/auth/login", auth="none", json={"name": name, "password": password})
        me = self._send("GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        is_admin = bool(me.json().get("is_admin")) if me.status_code == 200 else False
        credentials = Credentials.from_tokens(name, tokens, is_admin=is_admin)
        self._credentials, self._loaded, self.fixed_token = credentials, True, None
        self._persist = remember
        if remember:
            self.store.save(self.url, credentials)
        return credentials

    def logout(self) -> bool:
        self._credentials, self._loaded = None, True
        return self.store.forget(self.url)

    def refresh(self) -> Credentials:
        """Trade the refresh token for a new pair (refresh tokens are single use: the new one is stored)."""
        current = self.credentials
        if current is None:
            raise NotLoggedIn(f"not logged in to {self.url}; run `podium login`")
        response = self._send("POST", "/api/v1/auth/refresh", json={"refresh_token": current.refresh_token})
        if response.status_code in (400, 401, 403, 422):
            raise NotLoggedIn(f"your session at {self.url} has ended ({problem_detail(response)}); "
                              "run `podium login` again")
        if response.status_code >= 400:
            raise ApiError(response.status_code, problem_detail(response))
        refreshed = Credentials.from_tokens(current.name, response.json(), is_admin=current.is_admin)
        self._credentials = refreshed
        if self._persist:
            self.store.save(self.url, refreshed)
        return refreshed

    def access_token(self) -> str:
        if self.fixed_token is not None:
            return self.fixed_token
        current = self.credentials
        if current is None:
            raise NotLoggedIn(f"not logged in to {self.url}; run `podium login`")
        if current.expired():
            current = self.refresh()
        return current.access_token

    # --- requests -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise click.ClickException(f"cannot reach Podium at {self.url} ({exc or type(exc).__name__}); "
                                       "is it running? (set --url or PODIUM_URL)") from None
        except httpx.TimeoutException:
            raise click.ClickException(f"Podium at {self.url} did not answer within "
                                       f"{self.http.timeout.read} s") from None
        except httpx.TransportError as exc:
            raise click.ClickException(f"lost the connection to Podium at {self.url}: {exc}") from None

    def request(self, method: str, path: str, *, auth: Auth = "required", **kwargs: Any) -> httpx.Response:
        """Send a request (signed as `auth` says); an error answer raises ApiError, a 401 is retried once after
        refreshing the access token."""
        signed = auth == "required" or (auth == "optional" and self.logged_in)
        headers = dict(kwargs.pop("headers", None) or {})
        if signed:
            headers["Authorization"] = f"Bearer {self.access_token()}"
        response = self._send(method, path, headers=headers, **kwargs)
        if response.status_code == 401 and signed and self.fixed_token is None and self.credentials is not None:
            headers["Authorization"] = f"Bearer {self.refresh().access_token}"
            response = self._send(method, path, headers=headers, **kwargs)
        if response.status_code == 401 and signed:
            if self.fixed_token is not None:
                raise NotLoggedIn(f"the token given with --token/PODIUM_TOKEN was refused: {problem_detail(response)}")
            raise NotLoggedIn(f"{problem_detail(response)} at {self.url}; run `podium login` again")
        if response.status_code >= 400:
            raise ApiError(response.status_code, problem_detail(response), problem_members(response))
        return response

    def request_json(self, method: str, path: str, *, auth: Auth = "required", **kwargs: Any) -> Any:
        response = self.request(method, path, auth=auth, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise click.ClickException(f"{self.url}{path} did not answer JSON; is {self.url} a Podium?") from None

    def get(self, path: str, *, auth: Auth = "required", **kwargs: Any) -> Any:
        return self.request_json("GET", path, auth=auth, **kwargs)

    def post(self, path: str, *, auth: Auth = "required", **kwargs: Any) -> Any:
        return self.request_json("POST", path, auth=auth, **kwargs)

    # --- the API, typed where the CLI relies on the shape --------------------------------------------

    def me(self) -> dict[str, Any]:
        return self.get("/api/v1/auth/me")

    def tasks(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/tasks", auth="none")["tasks"]

    def task(self, name: str) -> dict[str, Any]:
        """A task by its id or one of its aliases (e.g. MLS-GOAT's "task1"); a clear error for an unknown one."""
        tasks = self.tasks()
        for task in tasks:
            if name == task["id"] or name in task.get("aliases", ()):
                return task
        known = ", ".join(t["id"] for t in tasks) or "none"
        raise click.ClickException(f"no task {name!r} at {self.url}; tasks: {known}")

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self.get(f"/api/v1/submissions/{submission_id}")

    def board(self, task_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/leaderboards/{task_id}", auth="optional")

    def wait_for_board(self, task_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The board, waiting briefly while the gateway is still loading it (a 503 with Retry-After)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.board(task_id)
            except ApiError as error:
                if error.status != 503 or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def upload(self, upload_url: str, chunks: Iterable[bytes], size: int) -> None:
        """PUT a file to a presigned storage URL. No Authorization header: the URL carries its own signature."""
        try:
            response = httpx.put(upload_url, content=_iterate(chunks), headers={"content-length": str(size)},
                                 timeout=httpx.Timeout(60.0, connect=10.0))
        except httpx.TransportError as exc:
            host = httpx.URL(upload_url).netloc.decode()
            raise click.ClickException(
                f"cannot upload to the object storage at {host} ({exc or type(exc).__name__}); the platform must "
                "hand out upload URLs its participants can reach (PODIUM_S3_PUBLIC_ENDPOINT)") from None
        if response.status_code >= 300:
            raise click.ClickException(f"the object storage refused the upload (HTTP {response.status_code}): "
                                       f"{response.text.strip()[:200]}")


def _iterate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield from chunks
