"""Routing: from a :class:`~reviewnlp.types.Prediction` to a :class:`~reviewnlp.types.RoutingDecision`.

The policy (teams, queues, deadlines, thresholds, suggested actions) is data: the default is
LABELS.md section 5, shipped as ``resources/policy.toml``; :func:`load_policy` merges a user's
file over it and validates the result into a frozen :class:`Policy`.

The decision is made by small named rules, each looking at the prediction and returning a
:class:`~reviewnlp.types.Reason` (with the inputs it used) or ``None``. :func:`route` keeps every
reason that fired; the first one in :data:`RULES` order picks the queue, team and priority, and the
earliest deadline of all of them sets ``due_at`` (UTC).

>>> policy = load_policy()
>>> prediction = _demo(severity="critical", flags=("safety",), flag_scores={"safety": 0.95})
>>> decision = route(prediction, policy, now=datetime(2024, 5, 1, 15, 30, tzinfo=timezone.utc))
>>> decision.queue, decision.team, decision.priority, decision.due_at.isoformat()
('safety', 'safety team', 1, '2024-05-01T16:30:00+00:00')
>>> [reason.rule for reason in decision.reasons]
['rule_safety_flag', 'rule_critical_severity']
>>> decision.suggested_actions
('apology', 'refund', 'compensation_coupon')
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import InputError, PolicyError
from .labels import CAUSES, FLAGS, SEVERITIES
from .types import Prediction, Reason, RoutingDecision

__all__ = [
    "Policy",
    "Thresholds",
    "RULES",
    "load_policy",
    "route",
    "escalation_signals",
    "local_time",
    "rule_low_confidence",
    "rule_safety_flag",
    "rule_legal_media_privacy_flag",
    "rule_critical_severity",
    "rule_fraud_flag",
    "rule_high_severity",
    "rule_medium_low",
    "rule_no_complaint",
]

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "<default policy>"
POLICY_VERSION = 1
#: Flags routed to their own team within the rule-1 deadline; ``fraud`` goes to the primary cause's team.
TIER1_FLAGS: tuple[str, ...] = ("safety", "legal", "media", "privacy")
_COMPLAINTS: tuple[str, ...] = SEVERITIES[1:]  # severities that get a deadline and suggestions
_THRESHOLDS = ("min_confidence", "flag_probability", "critical_probability", "high_probability")
_TOP_KEYS = ("version", "timezone", "queues", "routing", "deadlines", "thresholds", "actions", "suggestions")
_ROUTING_KEYS = ("human_review_queue", "critical_queue", "flag_queues", "cause_queues", "after_sales_queues")


# --------------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Confidence thresholds of rule 5 (see ``[thresholds]`` in ``policy.toml``)."""

    min_confidence: float
    flag_probability: float
    critical_probability: float
    high_probability: float


@dataclass(frozen=True)
class Policy:
    """A validated routing policy. Build it with :func:`load_policy`.

    ``queues`` maps a queue name to the team that works it; every other queue reference
    is a queue name. Deadlines are :class:`~datetime.timedelta` objects.
    """

    timezone: str
    queues: Mapping[str, str]
    human_review_queue: str
    critical_queue: str
    flag_queues: Mapping[str, str]
    cause_queues: Mapping[str, str]
    after_sales_queues: Mapping[str, str]
    severity_deadlines: Mapping[str, timedelta]
    flag_deadlines: Mapping[str, timedelta]
    thresholds: Thresholds
    actions: Mapping[str, str]
    suggestions: Mapping[str, Mapping[str, tuple[str, ...]]]
    source: str = DEFAULT_SOURCE

    @property
    def tz(self) -> ZoneInfo:
        """The policy's time zone, for display."""
        return ZoneInfo(self.timezone)


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Load and validate a routing policy.

    Parameters
    ----------
    path
        A TOML file whose keys are merged over the packaged default (tables merge key by key,
        arrays and values replace). ``None`` loads the default, LABELS.md section 5.

    Returns
    -------
    Policy
        The frozen, validated policy.

    Raises
    ------
    PolicyError
        The file cannot be read or is not valid TOML (the message names the file and line), or
        a key is unknown, has the wrong type, names an unknown label or an undefined queue, or a
        deadline is not positive (the message and ``error.key`` name the dotted key).

    Examples
    --------
    >>> policy = load_policy()
    >>> policy.severity_deadlines["high"]
    datetime.timedelta(seconds=14400)
    >>> policy.queues[policy.flag_queues["legal"]]
    'legal & PR'
    """
    default = _parse_toml(_default_text(), DEFAULT_SOURCE)
    if path is None:
        return _build_policy(default, DEFAULT_SOURCE)
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read policy file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{source}: policy file is not UTF-8 text: {exc}") from None
    policy = _build_policy(_merge(default, _parse_toml(text, source)), source)
    logger.debug("loaded routing policy from %s", source)
    return policy


@lru_cache(maxsize=1)
def _default_text() -> str:
    return (resources.files("reviewnlp") / "resources" / "policy.toml").read_text(encoding="utf-8")


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        where = f"{source}:{match.group(1)}" if match else source
        raise PolicyError(f"{where}: invalid TOML: {exc}") from None


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            merged[name] = _merge(base[name], value)
        else:
            merged[name] = value
    return merged


def _build_policy(data: Mapping[str, Any], source: str) -> Policy:
    def fail(key: str, problem: str) -> PolicyError:
        return PolicyError(f"{source}: {key}: {problem}", key=key)

    def table(value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise fail(key, f"expected a table, got {_type_name(value)}")
        return value

    def names(tbl: Mapping[str, Any], key: str, allowed: tuple[str, ...], kind: str,
              universe: tuple[str, ...] = ()) -> None:
        """Reject a key not in ``allowed`` and require each of them."""
        for name in tbl:
            if name not in allowed:
                known = name in universe
                problem = f"{kind} {name!r} is not allowed here" if known else f"unknown {kind}"
                where = f"{key}.{name}" if key else name
                raise fail(where, f"{problem}; expected one of {', '.join(allowed)}")
        for name in allowed:
            if name not in tbl:
                raise fail(f"{key}.{name}" if key else name, "missing")

    def string(value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"expected a non-empty string, got {_type_name(value)}")
        return value

    def number(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail(key, f"expected a number, got {_type_name(value)}")
        return float(value)

    def hours(value: Any, key: str) -> timedelta:
        amount = number(value, key)
        if amount <= 0:
            raise fail(key, f"deadline must be a positive number of hours, got {value}")
        return timedelta(hours=amount)

    def queue(value: Any, key: str) -> str:
        name = string(value, key)
        if name not in queues:
            defined = ", ".join(sorted(queues))
            raise fail(key, f"queue {name!r} is not defined in [queues] (defined: {defined})")
        return name

    names(data, "", _TOP_KEYS, "key")
    version = data["version"]
    if isinstance(version, bool) or version != POLICY_VERSION:
        raise fail("version", f"unsupported policy version {version!r}; expected {POLICY_VERSION}")
    zone = string(data["timezone"], "timezone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", f"unknown time zone {zone!r}") from None

    queues: dict[str, str] = {}
    for name, spec in table(data["queues"], "queues").items():
        spec = table(spec, f"queues.{name}")
        names(spec, f"queues.{name}", ("team",), "key")
        queues[name] = string(spec["team"], f"queues.{name}.team")

    routing = table(data["routing"], "routing")
    names(routing, "routing", _ROUTING_KEYS, "key")
    label_maps: dict[str, dict[str, str]] = {}
    for sub, allowed, kind, universe in (("flag_queues", TIER1_FLAGS, "flag", FLAGS),
                                         ("cause_queues", CAUSES, "cause", CAUSES),
                                         ("after_sales_queues", CAUSES, "cause", CAUSES)):
        key = f"routing.{sub}"
        tbl = table(routing[sub], key)
        names(tbl, key, allowed, kind, universe)
        label_maps[sub] = {name: queue(tbl[name], f"{key}.{name}") for name in allowed}

    deadlines = table(data["deadlines"], "deadlines")
    names(deadlines, "deadlines", ("severity", "flag"), "key")
    severity_tbl = table(deadlines["severity"], "deadlines.severity")
    names(severity_tbl, "deadlines.severity", _COMPLAINTS, "severity", SEVERITIES)
    flag_tbl = table(deadlines["flag"], "deadlines.flag")
    names(flag_tbl, "deadlines.flag", FLAGS, "flag")

    thresholds_tbl = table(data["thresholds"], "thresholds")
    names(thresholds_tbl, "thresholds", _THRESHOLDS, "key")
    limits = {}
    for name in _THRESHOLDS:
        value = number(thresholds_tbl[name], f"thresholds.{name}")
        if not 0.0 <= value <= 1.0:
            raise fail(f"thresholds.{name}", f"expected a probability between 0 and 1, got {value}")
        limits[name] = value

    actions_tbl = table(data["actions"], "actions")
    actions = {name: string(text, f"actions.{name}") for name, text in actions_tbl.items()}
    suggestions_tbl = table(data["suggestions"], "suggestions")
    names(suggestions_tbl, "suggestions", CAUSES, "cause")
    suggestions: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for cause in CAUSES:
        key = f"suggestions.{cause}"
        per_severity = table(suggestions_tbl[cause], key)
        names(per_severity, key, _COMPLAINTS, "severity", SEVERITIES)
        chosen: dict[str, tuple[str, ...]] = {}
        for severity in _COMPLAINTS:
            listed, where = per_severity[severity], f"{key}.{severity}"
            if not isinstance(listed, list):
                raise fail(where, f"expected an array of action names, got {_type_name(listed)}")
            for i, action in enumerate(listed):
                if string(action, f"{where}[{i}]") not in actions:
                    problem = f"action {action!r} is not defined in [actions] (defined: {', '.join(actions)})"
                    raise fail(f"{where}[{i}]", problem)
            chosen[severity] = tuple(listed)
        suggestions[cause] = MappingProxyType(chosen)

    return Policy(
        timezone=zone,
        queues=MappingProxyType(queues),
        human_review_queue=queue(routing["human_review_queue"], "routing.human_review_queue"),
        critical_queue=queue(routing["critical_queue"], "routing.critical_queue"),
        flag_queues=MappingProxyType(label_maps["flag_queues"]),
        cause_queues=MappingProxyType(label_maps["cause_queues"]),
        after_sales_queues=MappingProxyType(label_maps["after_sales_queues"]),
        severity_deadlines=MappingProxyType(
            {s: hours(severity_tbl[s], f"deadlines.severity.{s}") for s in _COMPLAINTS}),
        flag_deadlines=MappingProxyType({f: hours(flag_tbl[f], f"deadlines.flag.{f}") for f in FLAGS}),
        thresholds=Thresholds(**limits),
        actions=MappingProxyType(actions),
        suggestions=MappingProxyType(suggestions),
        source=source,
    )


def _type_name(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return kinds.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# Rules: each looks at the prediction and returns a Reason (with the inputs it used) or None.
# --------------------------------------------------------------------------------------------------


def _demo(**changes: Any) -> Prediction:
    """A product-quality prediction for the examples; ``changes`` override its fields."""
    fields: dict[str, Any] = dict(
        review_id="r1", lang="zh", causes=("product_quality",), cause_scores={"product_quality": 0.9},
        severity="medium", severity_scores={"medium": 0.8}, flags=(), flag_scores={}, confidence=0.8,
        model_version="demo")
    fields.update(changes)
    if "severity" in changes and "severity_scores" not in changes:
        fields["severity_scores"] = {fields["severity"]: fields["confidence"]}
    return Prediction(**fields)


def _score(scores: Mapping[str, float], name: str) -> float | None:
    value = scores.get(name)
    return None if value is None else round(float(value), 4)


def _confidence(prediction: Prediction) -> float:
    value = float(prediction.confidence)
    return value if math.isfinite(value) else 0.0


def escalation_signals(prediction: Prediction, policy: Policy) -> dict[str, float | None]:
    """Return what makes a prediction able to escalate, with the probability behind each.

    Keys are ``"flag:<name>"`` (the flag is set, or its score reaches
    ``thresholds.flag_probability``), ``"severity:critical"`` (chosen, or P(critical) reaches
    ``thresholds.critical_probability``) and ``"severity:high"`` (high chosen, or P(high) + P(critical)
    reaches ``thresholds.high_probability``). An empty dict means the prediction cannot escalate.

    >>> escalation_signals(_demo(severity_scores={"medium": 0.5, "critical": 0.3}), load_policy())
    {'severity:critical': 0.3}
    >>> escalation_signals(_demo(), load_policy())
    {}
    """
    limits = policy.thresholds
    signals: dict[str, float | None] = {}
    for flag in FLAGS:
        score = _score(prediction.flag_scores, flag)
        if flag in prediction.flags or (score is not None and score >= limits.flag_probability):
            signals[f"flag:{flag}"] = score
    p_critical = float(prediction.severity_scores.get("critical", 0.0))
    p_high_up = p_critical + float(prediction.severity_scores.get("high", 0.0))
    if prediction.severity == "critical" or p_critical >= limits.critical_probability:
        signals["severity:critical"] = round(p_critical, 4)
    if prediction.severity == "high" or p_high_up >= limits.high_probability:
        signals["severity:high"] = round(p_high_up, 4)
    return signals


def rule_low_confidence(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 5: a prediction that could escalate, made with low confidence, goes to human review.

    >>> reason = rule_low_confidence(_demo(severity="high", confidence=0.41), load_policy())
    >>> reason.inputs["confidence"], reason.inputs["signals"]
    (0.41, {'severity:high': 0.41})
    """
    confidence = _confidence(prediction)
    minimum = policy.thresholds.min_confidence
    signals = escalation_signals(prediction, policy)
    if not signals or confidence >= minimum:
        return None
    return Reason("rule_low_confidence",
                  f"confidence {confidence:.2f} is below {minimum:.2f} on a prediction that could escalate "
                  f"({', '.join(signals)})",
                  {"confidence": round(confidence, 4), "min_confidence": minimum, "signals": signals})


def rule_safety_flag(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 1: the ``safety`` flag is set.

    >>> rule_safety_flag(_demo(flags=("safety",), flag_scores={"safety": 0.91}), load_policy()).inputs
    {'flag': 'safety', 'score': 0.91}
    """
    if "safety" not in prediction.flags:
        return None
    score = _score(prediction.flag_scores, "safety")
    return Reason("rule_safety_flag", f"flag safety is set (score {score})",
                  {"flag": "safety", "score": score})


def rule_legal_media_privacy_flag(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 1: any of the ``legal``, ``media`` or ``privacy`` flags is set.

    >>> rule_legal_media_privacy_flag(_demo(flags=("media", "legal"), flag_scores={"legal": 0.7}),
    ...                               load_policy()).inputs
    {'flags': ['legal', 'media'], 'scores': {'legal': 0.7, 'media': None}}
    """
    flags = [flag for flag in ("legal", "media", "privacy") if flag in prediction.flags]
    if not flags:
        return None
    scores = {flag: _score(prediction.flag_scores, flag) for flag in flags}
    return Reason("rule_legal_media_privacy_flag", f"flag {', '.join(flags)} set (scores {scores})",
                  {"flags": flags, "scores": scores})


def _severity_reason(rule: str, prediction: Prediction) -> Reason:
    probability = _score(prediction.severity_scores, prediction.severity)
    return Reason(rule, f"severity is {prediction.severity} (probability {probability})",
                  {"severity": prediction.severity, "probability": probability,
                   "primary_cause": prediction.primary_cause})


def rule_critical_severity(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 1: severity is ``critical``.

    >>> rule_critical_severity(_demo(severity="critical"), load_policy()).inputs["probability"]
    0.8
    """
    if prediction.severity != "critical":
        return None
    return _severity_reason("rule_critical_severity", prediction)


def rule_fraud_flag(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 2: the ``fraud`` flag is set; the primary cause's team handles it.

    >>> rule_fraud_flag(_demo(flags=("fraud",), flag_scores={"fraud": 0.66}), load_policy()).inputs
    {'flag': 'fraud', 'score': 0.66, 'primary_cause': 'product_quality'}
    """
    if "fraud" not in prediction.flags:
        return None
    score = _score(prediction.flag_scores, "fraud")
    return Reason("rule_fraud_flag", f"flag fraud is set (score {score})",
                  {"flag": "fraud", "score": score, "primary_cause": prediction.primary_cause})


def rule_high_severity(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 2: severity is ``high``; the primary cause's team handles it.

    >>> rule_high_severity(_demo(severity="high"), load_policy()).rule
    'rule_high_severity'
    """
    if prediction.severity != "high":
        return None
    return _severity_reason("rule_high_severity", prediction)


def rule_medium_low(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 3: severity is ``medium`` or ``low``; the after-sales queue of the primary cause.

    >>> rule_medium_low(_demo(severity="low"), load_policy()).message
    'severity is low (probability 0.8)'
    """
    if prediction.severity not in ("medium", "low"):
        return None
    return _severity_reason("rule_medium_low", prediction)


def rule_no_complaint(prediction: Prediction, policy: Policy) -> Reason | None:
    """Rule 4: severity is ``none``; no action.

    >>> rule_no_complaint(_demo(severity="none", causes=()), load_policy()).inputs["severity"]
    'none'
    """
    if prediction.severity != "none":
        return None
    return _severity_reason("rule_no_complaint", prediction)


#: Every rule, in precedence order: LABELS.md section 5, with rule 5 (low confidence) first because
#: it overrides the others (never silently dropped). Exactly one severity rule always fires.
RULES: tuple[Callable[[Prediction, Policy], Reason | None], ...] = (
    rule_low_confidence,
    rule_safety_flag,
    rule_legal_media_privacy_flag,
    rule_critical_severity,
    rule_fraud_flag,
    rule_high_severity,
    rule_medium_low,
    rule_no_complaint,
)


# --------------------------------------------------------------------------------------------------
# Targets: where a fired rule sends the review (queue, priority 1-5, deadline).
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    queue: str | None
    priority: int
    deadline: timedelta | None


def _cause(prediction: Prediction) -> str:
    return prediction.primary_cause or "other"


def _signal_target(signal: str, policy: Policy) -> tuple[int, timedelta]:
    kind, name = signal.split(":", 1)
    if kind == "flag":
        return (1 if name in TIER1_FLAGS else 2), policy.flag_deadlines[name]
    return (1 if name == "critical" else 2), policy.severity_deadlines[name]


def _target_low_confidence(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    tiers = [_signal_target(signal, policy) for signal in reason.inputs["signals"]]
    return _Target(policy.human_review_queue, min(p for p, _ in tiers), min(d for _, d in tiers))


def _target_flag_team(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    flags = reason.inputs.get("flags") or [reason.inputs["flag"]]
    return _Target(policy.flag_queues[flags[0]], 1, min(policy.flag_deadlines[f] for f in flags))


def _target_critical(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    return _Target(policy.critical_queue, 1, policy.severity_deadlines["critical"])


def _target_fraud(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    return _Target(policy.cause_queues[_cause(prediction)], 2, policy.flag_deadlines["fraud"])


def _target_high(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    return _Target(policy.cause_queues[_cause(prediction)], 2, policy.severity_deadlines["high"])


def _target_medium_low(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    severity = prediction.severity
    return _Target(policy.after_sales_queues[_cause(prediction)], 3 if severity == "medium" else 4,
                   policy.severity_deadlines[severity])


def _target_no_action(reason: Reason, prediction: Prediction, policy: Policy) -> _Target:
    return _Target(None, 5, None)


_TARGETS: dict[str, Callable[[Reason, Prediction, Policy], _Target]] = {
    "rule_low_confidence": _target_low_confidence,
    "rule_safety_flag": _target_flag_team,
    "rule_legal_media_privacy_flag": _target_flag_team,
    "rule_critical_severity": _target_critical,
    "rule_fraud_flag": _target_fraud,
    "rule_high_severity": _target_high,
    "rule_medium_low": _target_medium_low,
    "rule_no_complaint": _target_no_action,
}


# --------------------------------------------------------------------------------------------------
# route()
# --------------------------------------------------------------------------------------------------


def route(prediction: Prediction, policy: Policy, now: datetime | None = None) -> RoutingDecision:
    """Decide who must act on a prediction, and by when.

    Parameters
    ----------
    prediction
        The model's output for one review.
    policy
        A policy from :func:`load_policy`.
    now
        A timezone-aware moment the deadline counts from; ``None`` means the current time.

    Returns
    -------
    RoutingDecision
        ``reasons`` holds every rule that fired, in :data:`RULES` order; the first one picks
        ``queue``, ``team`` and ``priority`` (1 = most urgent ... 5 = no action). ``due_at`` is
        ``now`` plus the shortest deadline of the rules that fired, in UTC (elapsed time, so it is
        right across midnight and daylight-saving changes). ``escalate`` is true for priorities
        1-2, which includes human review of a decision that could escalate.

    Raises
    ------
    InputError
        The prediction names an unknown severity, cause or flag.
    ValueError
        ``now`` is naive.

    Examples
    --------
    >>> now = datetime(2024, 5, 1, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> decision = route(_demo(severity="high", confidence=0.45), load_policy(), now=now)
    >>> decision.queue, decision.needs_human_review, decision.priority
    ('human_review', True, 2)
    >>> local_time(decision.due_at, load_policy()).isoformat()
    '2024-05-02T03:30:00+08:00'
    """
    _check_prediction(prediction)
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    fired = [(reason, _TARGETS[reason.rule](reason, prediction, policy))
             for reason in (rule(prediction, policy) for rule in RULES) if reason is not None]
    lead_reason, lead = fired[0]
    deadlines = [target.deadline for _, target in fired if target.deadline is not None]
    due_at = now.astimezone(timezone.utc) + min(deadlines) if lead.queue and deadlines else None
    return RoutingDecision(
        review_id=prediction.review_id,
        escalate=lead.queue is not None and lead.priority <= 2,
        queue=lead.queue,
        team=policy.queues[lead.queue] if lead.queue else None,
        priority=lead.priority,
        due_at=due_at,
        reasons=tuple(reason for reason, _ in fired),
        suggested_actions=_suggested_actions(prediction, policy) if lead.queue else (),
        needs_human_review=lead_reason.rule == "rule_low_confidence",
    )


def _check_prediction(prediction: Prediction) -> None:
    if prediction.severity not in SEVERITIES:
        raise InputError(f"prediction.severity: unknown severity {prediction.severity!r}; "
                         f"expected one of {', '.join(SEVERITIES)}", field="severity")
    for field, values, known in (("causes", prediction.causes, CAUSES), ("flags", prediction.flags, FLAGS)):
        for value in values:
            if value not in known:
                expected = ", ".join(known)
                raise InputError(f"prediction.{field}: unknown label {value!r}; expected one of {expected}",
                                 field=field)


def _suggested_actions(prediction: Prediction, policy: Policy) -> tuple[str, ...]:
    if prediction.severity == "none":
        return ()
    causes = sorted(prediction.causes, key=lambda c: -float(prediction.cause_scores.get(c, 0.0))) or ["other"]
    actions: dict[str, None] = {}
    for cause in causes:
        actions.update(dict.fromkeys(policy.suggestions[cause][prediction.severity]))
    return tuple(actions)


def local_time(moment: datetime, policy: Policy) -> datetime:
    """Return ``moment`` (timezone-aware, e.g. ``decision.due_at``) in the policy's time zone.

    >>> local_time(datetime(2024, 5, 1, 16, 30, tzinfo=timezone.utc), load_policy()).isoformat()
    '2024-05-02T00:30:00+08:00'
    """
    return moment.astimezone(policy.tz)
