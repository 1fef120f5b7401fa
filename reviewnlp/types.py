"""Immutable records that flow between the stages.

text -> normalize -> segment -> features -> model -> :class:`Prediction`
-> route -> :class:`RoutingDecision` -> store (:class:`Escalation`).

>>> p = Prediction(review_id="r1", lang="en", causes=("logistics",),
...                cause_scores={"logistics": 0.9}, severity="medium",
...                severity_scores={"medium": 0.7}, flags=(), flag_scores={},
...                confidence=0.7, model_version="test")
>>> p.to_dict()["severity"]
'medium'
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Review:
    """One customer-written review."""

    text: str
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    """Why the model decided: top tokens per decision and lexicon/rule hits.

    ``tokens`` maps a decision name (``"cause:logistics"``, ``"severity"``,
    ``"flag:safety"``) to ``(token, weight)`` pairs, strongest first.
    ``lexicon_hits`` maps a flag or severity cue to the matched phrases.
    """

    tokens: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    lexicon_hits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": {k: [[t, round(w, 4)] for t, w in v] for k, v in self.tokens.items()},
            "lexicon_hits": {k: list(v) for k, v in self.lexicon_hits.items()},
        }


@dataclass(frozen=True)
class Prediction:
    """What the model says about one review.

    ``confidence`` is the probability of the chosen severity level.
    """

    review_id: str | None
    lang: str
    causes: tuple[str, ...]
    cause_scores: Mapping[str, float]
    severity: str
    severity_scores: Mapping[str, float]
    flags: tuple[str, ...]
    flag_scores: Mapping[str, float]
    confidence: float
    model_version: str
    explanation: Explanation = field(default_factory=Explanation)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary_cause(self) -> str | None:
        """The most probable predicted cause, or ``None`` when there is none."""
        if not self.causes:
            return None
        return max(self.causes, key=lambda c: self.cause_scores.get(c, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.review_id,
            "lang": self.lang,
            "causes": list(self.causes),
            "cause_scores": {k: round(float(v), 6) for k, v in self.cause_scores.items()},
            "severity": self.severity,
            "severity_scores": {k: round(float(v), 6) for k, v in self.severity_scores.items()},
            "flags": list(self.flags),
            "flag_scores": {k: round(float(v), 6) for k, v in self.flag_scores.items()},
            "confidence": round(float(self.confidence), 6),
            "model_version": self.model_version,
            "explanation": self.explanation.to_dict(),
            "meta": dict(self.meta),
        }


@dataclass(frozen=True)
class Reason:
    """One named routing rule that fired, with the inputs it looked at."""

    rule: str
    message: str
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class RoutingDecision:
    """Who must act on a review, and by when."""

    review_id: str | None
    escalate: bool
    queue: str | None
    team: str | None
    priority: int
    due_at: datetime | None
    reasons: tuple[Reason, ...] = ()
    suggested_actions: tuple[str, ...] = ()
    needs_human_review: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "escalate": self.escalate,
            "queue": self.queue,
            "team": self.team,
            "priority": self.priority,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "reasons": [r.to_dict() for r in self.reasons],
            "suggested_actions": list(self.suggested_actions),
            "needs_human_review": self.needs_human_review,
        }


@dataclass(frozen=True)
class Escalation:
    """A stored escalation: the decision plus the prediction, and its status."""

    review_id: str
    model_version: str
    queue: str
    team: str | None
    priority: int
    due_at: datetime | None
    status: str
    created_at: datetime
    prediction: Mapping[str, Any]
    decision: Mapping[str, Any]
    text: str = ""
    id: int | None = None  # the store's key (``ack``/``resolve``/``show`` take it); None before it is stored

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["due_at"] = self.due_at.isoformat() if self.due_at else None
        d["created_at"] = self.created_at.isoformat()
        d["prediction"] = dict(self.prediction)
        d["decision"] = dict(self.decision)
        return d
