"""The `podium` command: participants, admins and developers talk to a Podium through its public API."""
