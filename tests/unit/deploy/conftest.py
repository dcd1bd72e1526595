"""What the deployment files are checked against: the services' own settings (ports, competition file)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"

# module -> its settings class in <module>/app.py (the single source of its HTTP port and its settings).
SETTINGS_CLASSES = {
    "gateway": "GatewaySettings",
    "auth_service": "AuthServiceSettings",
    "submission_service": "SubmissionServiceSettings",
    "cpu_scorer": "CpuScorerSettings",
    "gpu_scorer": "GpuScorerSettings",
    "leaderboard_service": "LeaderboardServiceSettings",
}


class ServiceFacts:
    def __init__(self, module: str) -> None:
        fields = getattr(importlib.import_module(f"{module}.app"), SETTINGS_CLASSES[module]).model_fields
        self.module = module
        self.port: int = fields["http_port"].default
        # submission_service alone: the seed of an empty platform (every service follows the competition bucket).
        self.reads_competition_file = "competition_seed" in fields


@pytest.fixture(scope="session")
def services() -> dict[str, ServiceFacts]:
    return {module: ServiceFacts(module) for module in SETTINGS_CLASSES}
