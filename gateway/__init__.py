"""The only public HTTP/WebSocket entry (Litestar + msgspec): auth checks, rate limits, request/reply to
the services over NATS, live pushes."""
