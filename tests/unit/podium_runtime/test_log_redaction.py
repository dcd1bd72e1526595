"""No logged URL keeps its query string: it may carry a credential (a WebSocket token, a presigned signature)."""

from __future__ import annotations

import io
import json
import logging

from podium_runtime.logging import json_handler, redact_queries


def test_uvicorns_websocket_line_loses_its_query() -> None:
    out = io.StringIO()
    logger = logging.getLogger("uvicorn.error.test-redaction")
    logger.addHandler(json_handler("gateway", out))
    logger.propagate = False
    try:
        logger.warning('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws?token=eyJhbGciOi.secret.sig")
    finally:
        logger.handlers.clear()
    line = json.loads(out.getvalue())
    assert line["message"] == '127.0.0.1:5000 - "WebSocket /ws?[redacted]" [accepted]'
    assert "secret" not in out.getvalue()


def test_urls_anywhere_in_a_message_lose_their_query() -> None:
    assert redact_queries("PUT http://s3:8333/b/k.zip?X-Amz-Signature=abc&X-Amz-Credential=d failed") == (
        "PUT http://s3:8333/b/k.zip?[redacted] failed")
    assert redact_queries("is this a question? yes") == "is this a question? yes"
