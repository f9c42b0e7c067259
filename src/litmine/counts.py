"""What every stage returns: how many items were new, updated, unchanged or failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Counts:
    stage: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    # Why the stage as a whole failed although it stored some items (a query stopped early): the
    # run's report lists the stage as failed, and the command exits 1.
    error: str | None = None

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged + self.failed

    def add(self, status: str, n: int = 1) -> None:
        """Count ``n`` items of ``status``: one of new, updated, unchanged, failed."""
        if status not in ("new", "updated", "unchanged", "failed"):
            raise ValueError(f"unknown count status {status!r}")
        setattr(self, status, getattr(self, status) + n)

    def merge(self, other: "Counts") -> "Counts":
        for status in ("new", "updated", "unchanged", "failed"):
            self.add(status, getattr(other, status))
        self.notes.extend(other.notes)
        self.error = self.error or other.error
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        text = f"{self.stage}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, {self.failed} failed"
        if self.notes:
            text += " (" + "; ".join(self.notes) + ")"
        return text
