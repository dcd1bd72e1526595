"""Upload sessions, validation, quotas, status and rescoring requests.

Owns schema `submissions` and bucket `submissions`."""
