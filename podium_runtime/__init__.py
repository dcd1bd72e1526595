"""The small runtime every Podium service shares: settings, logging, connections, health,
migrations and the transactional outbox. Services import this and `proto`, never each other."""
