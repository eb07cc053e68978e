"""Field helper shared by every params section: numeric ranges the loader enforces."""

from __future__ import annotations

from dataclasses import field


def bound(*, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None):
    """A dataclass field with a numeric range the loader enforces (no default: defaults live in params.yaml)."""
    return field(metadata={"ge": ge, "gt": gt, "le": le, "lt": lt})
