"""The policies regscout ships, all disabled until someone enables them."""

from __future__ import annotations

from .model import Action, Criteria, Policy

__all__ = ["CRITICAL_FIXABLE", "IMAGE_OLDER_THAN_A_YEAR", "RUNS_AS_ROOT", "default_policies"]

CRITICAL_FIXABLE = "critical fixable"
RUNS_AS_ROOT = "runs as root"
IMAGE_OLDER_THAN_A_YEAR = "image older than 1 year"


def default_policies() -> list[Policy]:
    """Fresh copies of the shipped defaults (disabled)."""
    return [
        Policy(
            name=CRITICAL_FIXABLE,
            description="A critical vulnerability with a fixed version available: upgrade the package.",
            enabled=False,
            action=Action.BLOCK,
            criteria=Criteria(severity="CRITICAL", fixable=True),
        ),
        Policy(
            name=RUNS_AS_ROOT,
            description="The image runs as root: no USER, or USER root / 0.",
            enabled=False,
            action=Action.WARN,
            criteria=Criteria(runs_as_root=True),
        ),
        Policy(
            name=IMAGE_OLDER_THAN_A_YEAR,
            description="The image was built more than 365 days ago and misses every fix since.",
            enabled=False,
            action=Action.WARN,
            criteria=Criteria(image_age_days=365),
        ),
    ]
