"""What every classifier returns for one text."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Prediction:
    label: str
    score: float                       # the chosen label's probability, 0..1
    scores: dict[str, float]           # every label's probability; they sum to 1
    evidence: str | None = None        # the text window that weighed most for the label
    evidence_span: tuple[int, int] | None = None   # its character offsets in the text
    windows: int = 1                   # how many token windows the text was cut into

    @property
    def runner_up(self) -> tuple[str, float] | None:
        others = sorted(((s, l) for l, s in self.scores.items() if l != self.label), reverse=True)
        return (others[0][1], others[0][0]) if others else None

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "scores": dict(self.scores), "evidence": self.evidence,
                "evidence_span": list(self.evidence_span) if self.evidence_span else None, "windows": self.windows}


class Cancelled(Exception):
    """Raised inside a long prediction when the caller asked it to stop."""


@dataclass
class RunControl:
    """How a caller follows and stops a long prediction: both called between batches."""
    on_progress: object = None        # callable(done_windows: int, total_windows: int) or None
    cancelled: object = None          # callable() -> bool or None
    _done: int = field(default=0, repr=False)

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled()

    def advance(self, count: int, total: int) -> None:
        self._done += count
        if self.on_progress is not None:
            self.on_progress(self._done, total)
