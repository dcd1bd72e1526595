"""The GPU host's compose file and image (no Docker engine here: checked as files): Triton with the NVIDIA
runtime and explicit model control, gpu_scorer pointed at it and given what it needs to reach NATS and S3."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_compose_runs_triton_on_the_gpu_and_the_scorer_beside_it() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.gpu-host.yml").read_text())
    triton, scorer = compose["services"]["triton"], compose["services"]["gpu_scorer"]
    assert "--model-control-mode=explicit" in triton["command"]
    assert triton["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert scorer["environment"]["PODIUM_TRITON_URL"] == "triton:8001"
    assert {"PODIUM_NATS_URL", "PODIUM_S3_ENDPOINT", "PODIUM_S3_ACCESS_KEY", "PODIUM_S3_SECRET_KEY"} <= set(
        scorer["environment"])
    assert (DEPLOY.parent / scorer["build"]["dockerfile"]).exists()


def test_the_image_installs_only_its_extra_and_runs_unprivileged() -> None:
    dockerfile = (DEPLOY / "docker" / "gpu_scorer.Dockerfile").read_text()
    assert "--frozen --no-emit-project --extra gpu_scorer " in dockerfile and "\nUSER podium\n" in dockerfile
    assert dockerfile.count("FROM ") == 2  # build stage, then a slim runtime stage
