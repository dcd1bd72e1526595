"""What of a submission a team may see: until its task's private board is revealed, no value of the hidden private
split — not the private score, not a `*_private` metric, not in `details` — reaches anyone but an admin."""

from __future__ import annotations

import json
import re

import msgspec

from proto.submissions import SubmissionView

_WORDS = re.compile(r"[^a-z0-9]+")


def is_private_metric(name: str) -> bool:
    """A metric computed on the private split (`psnr_private`, `accuracy_private`, …): any name with the word
    `private` in it, so a scorer's new metric is hidden unless it says otherwise."""
    return "private" in _WORDS.split(name.lower())


def without_private(view: SubmissionView) -> SubmissionView:
    """The view with every private value taken out: the private score, the private metrics, and the same keys
    in `details` (MLS-GOAT's JSON string, built from the metrics)."""
    metrics = {name: value for name, value in view.metrics.items() if not is_private_metric(name)}
    details = json.loads(view.details)
    if isinstance(details, dict):
        details = {name: value for name, value in details.items() if not is_private_metric(name)}
    return msgspec.structs.replace(view, private_score=None, metrics=metrics, details=json.dumps(details))


def public_details(details: dict) -> dict:
    """A team's view of its scoring details: per-sample values of the hidden private split are left out (they
    would reveal the private score and, sample by sample, the private ground truth); model tasks' details hold
    only public-split metrics already. Kept for admins only even after the reveal: the board shows the private
    scores then, never the private samples."""
    details = {name: value for name, value in details.items() if not is_private_metric(name)}
    if isinstance(details.get("samples"), list):
        details["samples"] = [s for s in details["samples"] if not (isinstance(s, dict) and s.get("private"))]
    return details
