"""Routing rules, LABELS.md section 5 order, human review, deadlines and suggested actions."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from reviewnlp import routing
from reviewnlp.errors import InputError
from reviewnlp.routing import load_policy, local_time, route
from reviewnlp.types import Prediction

POLICY = load_policy()
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def pred(severity: str = "medium", *, causes=("product_quality",), flags=(), flag_scores=None,
         severity_scores=None, confidence: float = 0.9, cause_scores=None) -> Prediction:
    """A prediction; severity_scores defaults to all mass on ``severity`` at ``confidence``."""
    return Prediction(
        review_id="r1", lang="zh", causes=tuple(causes),
        cause_scores=cause_scores if cause_scores is not None else {c: 0.9 for c in causes},
        severity=severity,
        severity_scores=severity_scores if severity_scores is not None else {severity: confidence},
        flags=tuple(flags), flag_scores=flag_scores if flag_scores is not None else {f: 0.9 for f in flags},
        confidence=confidence, model_version="test")


def rules_fired(prediction: Prediction) -> list[str]:
    return [reason.rule for reason in route(prediction, POLICY, now=NOW).reasons]


# ---- each rule on its own ------------------------------------------------------------------------


def test_rule_safety_flag():
    reason = routing.rule_safety_flag(pred(flags=("safety",), flag_scores={"safety": 0.83}), POLICY)
    assert reason.rule == "rule_safety_flag" and reason.inputs == {"flag": "safety", "score": 0.83}
    assert routing.rule_safety_flag(pred(flags=("legal",)), POLICY) is None


def test_rule_legal_media_privacy_flag():
    reason = routing.rule_legal_media_privacy_flag(
        pred(flags=("privacy", "legal"), flag_scores={"legal": 0.7, "privacy": 0.6}), POLICY)
    assert reason.inputs == {"flags": ["legal", "privacy"], "scores": {"legal": 0.7, "privacy": 0.6}}
    for flag in ("legal", "media", "privacy"):
        assert routing.rule_legal_media_privacy_flag(pred(flags=(flag,)), POLICY) is not None
    assert routing.rule_legal_media_privacy_flag(pred(flags=("safety", "fraud")), POLICY) is None


def test_rule_critical_severity():
    reason = routing.rule_critical_severity(pred("critical", confidence=0.77), POLICY)
    assert reason.inputs["severity"] == "critical" and reason.inputs["probability"] == 0.77
    assert routing.rule_critical_severity(pred("high"), POLICY) is None


def test_rule_fraud_flag():
    prediction = pred(causes=("logistics",), flags=("fraud",), flag_scores={"fraud": 0.71})
    reason = routing.rule_fraud_flag(prediction, POLICY)
    assert reason.inputs == {"flag": "fraud", "score": 0.71, "primary_cause": "logistics"}
    assert routing.rule_fraud_flag(pred(flags=("safety",)), POLICY) is None


def test_rule_high_severity():
    assert routing.rule_high_severity(pred("high"), POLICY).inputs["severity"] == "high"
    assert routing.rule_high_severity(pred("critical"), POLICY) is None
    assert routing.rule_high_severity(pred("medium"), POLICY) is None


@pytest.mark.parametrize("severity", ["medium", "low"])
def test_rule_medium_low(severity):
    assert routing.rule_medium_low(pred(severity), POLICY).inputs["severity"] == severity


@pytest.mark.parametrize("severity", ["none", "high", "critical"])
def test_rule_medium_low_ignores_other_severities(severity):
    assert routing.rule_medium_low(pred(severity), POLICY) is None


def test_rule_no_complaint():
    assert routing.rule_no_complaint(pred("none", causes=()), POLICY).inputs["severity"] == "none"
    assert routing.rule_no_complaint(pred("low"), POLICY) is None


def test_rule_low_confidence_needs_both_low_confidence_and_an_escalation_signal():
    reason = routing.rule_low_confidence(pred("high", confidence=0.4), POLICY)
    assert reason.inputs == {"confidence": 0.4, "min_confidence": 0.6, "signals": {"severity:high": 0.4}}
    assert routing.rule_low_confidence(pred("high", confidence=0.95), POLICY) is None
    assert routing.rule_low_confidence(pred("medium", confidence=0.4), POLICY) is None


# ---- section 5: queue, team, priority and deadline -----------------------------------------------


@pytest.mark.parametrize(("prediction", "queue", "team", "priority", "hours", "escalate"), [
    (pred("critical", flags=("safety",)), "safety", "safety team", 1, 1, True),
    (pred("high", flags=("safety",)), "safety", "safety team", 1, 1, True),
    (pred("high", flags=("legal",)), "legal_pr", "legal & PR", 1, 1, True),
    (pred("critical", flags=("media",)), "legal_pr", "legal & PR", 1, 1, True),
    (pred("critical", flags=("privacy",)), "legal_pr", "legal & PR", 1, 1, True),
    (pred("critical"), "legal_pr", "legal & PR", 1, 1, True),
    (pred("medium", causes=("logistics",), flags=("fraud",)), "logistics", "logistics team", 2, 4, True),
    (pred("high", causes=("product_quality",)), "quality", "quality team", 2, 4, True),
    (pred("high", causes=("service_attitude",)), "cs_supervisor", "customer-service supervisor", 2, 4, True),
    (pred("high", causes=("other",)), "after_sales", "after-sales", 2, 4, True),
    (pred("high", causes=()), "after_sales", "after-sales", 2, 4, True),
    (pred("medium", causes=("logistics",)), "after_sales", "after-sales", 3, 24, False),
    (pred("low", causes=("product_quality",)), "after_sales", "after-sales", 4, 72, False),
    (pred("none", causes=()), None, None, 5, None, False),
])
def test_section_5_routes(prediction, queue, team, priority, hours, escalate):
    decision = route(prediction, POLICY, now=NOW)
    assert (decision.queue, decision.team) == (queue, team)
    assert (decision.priority, decision.escalate) == (priority, escalate)
    assert decision.due_at == (NOW + timedelta(hours=hours) if hours else None)
    assert not decision.needs_human_review


def test_primary_cause_picks_the_team():
    prediction = pred("high", causes=("logistics", "service_attitude"),
                      cause_scores={"logistics": 0.55, "service_attitude": 0.8})
    assert route(prediction, POLICY, now=NOW).queue == "cs_supervisor"


@pytest.mark.parametrize(("prediction", "expected_rules", "queue"), [
    (pred("critical", flags=("legal", "safety")),
     ["rule_safety_flag", "rule_legal_media_privacy_flag", "rule_critical_severity"], "safety"),
    (pred("critical", flags=("media", "fraud")),
     ["rule_legal_media_privacy_flag", "rule_critical_severity", "rule_fraud_flag"], "legal_pr"),
    (pred("critical", causes=("logistics",), flags=("fraud",)), ["rule_critical_severity", "rule_fraud_flag"],
     "legal_pr"),
    (pred("high", causes=("logistics",), flags=("fraud",)), ["rule_fraud_flag", "rule_high_severity"],
     "logistics"),
    (pred("medium", flags=("fraud",)), ["rule_fraud_flag", "rule_medium_low"], "quality"),
])
def test_every_fired_rule_is_kept_and_the_first_in_section_5_order_wins(prediction, expected_rules, queue):
    decision = route(prediction, POLICY, now=NOW)
    assert [reason.rule for reason in decision.reasons] == expected_rules
    assert decision.queue == queue


def test_earliest_deadline_of_all_fired_rules_wins(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[deadlines.severity]\nhigh = 2\n", encoding="utf-8")
    policy = load_policy(path)
    decision = route(pred("high", causes=("logistics",), flags=("fraud",)), policy, now=NOW)
    assert decision.queue == "logistics"  # rule_fraud_flag picks the queue (fraud: 4 h) ...
    assert decision.due_at == NOW + 2 * HOUR  # ... but high severity asks for 2 h


# ---- rule 5: low confidence -> human review, never "no action" -----------------------------------


@pytest.mark.parametrize(("prediction", "priority", "hours", "signal"), [
    (pred("high", confidence=0.45), 2, 4, "severity:high"),
    (pred("critical", confidence=0.5), 1, 1, "severity:critical"),
    (pred("medium", flags=("safety",), confidence=0.5), 1, 1, "flag:safety"),
    (pred("medium", flags=("fraud",), confidence=0.5), 2, 4, "flag:fraud"),
    # the argmax is lower, but P(critical) is high enough
    (pred("none", causes=(), confidence=0.55, severity_scores={"none": 0.55, "critical": 0.25, "low": 0.2}),
     1, 1, "severity:critical"),
    # the argmax is medium, but P(high) + P(critical) is high enough
    (pred("medium", confidence=0.5, severity_scores={"medium": 0.5, "high": 0.3, "critical": 0.1}),
     2, 4, "severity:high"),
    # a flag that is not set, but scores above thresholds.flag_probability
    (pred("low", confidence=0.5, flag_scores={"legal": 0.35}), 1, 1, "flag:legal"),
])
def test_low_confidence_on_a_decision_that_could_escalate_goes_to_human_review(prediction, priority, hours,
                                                                               signal):
    decision = route(prediction, POLICY, now=NOW)
    assert decision.queue == "human_review" and decision.team == "human review"
    assert decision.needs_human_review and decision.escalate
    assert decision.priority == priority
    assert decision.due_at == NOW + hours * HOUR
    assert decision.reasons[0].rule == "rule_low_confidence"
    assert signal in decision.reasons[0].inputs["signals"]


def test_not_a_number_confidence_counts_as_low():
    decision = route(pred("high", confidence=float("nan")), POLICY, now=NOW)
    assert decision.needs_human_review


@pytest.mark.parametrize("prediction", [
    pred("medium", confidence=0.4),  # low confidence, but nothing could escalate
    pred("none", causes=(), confidence=0.3, severity_scores={"none": 0.3, "low": 0.3, "medium": 0.3}),
    pred("high", confidence=0.6),  # exactly at the threshold counts as confident
])
def test_no_human_review_without_low_confidence_and_an_escalation_signal(prediction):
    assert not route(prediction, POLICY, now=NOW).needs_human_review


def test_human_review_threshold_comes_from_the_policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[thresholds]\nmin_confidence = 0.95\n", encoding="utf-8")
    assert route(pred("high", confidence=0.9), load_policy(path), now=NOW).needs_human_review
    assert not route(pred("high", confidence=0.9), POLICY, now=NOW).needs_human_review


# ---- deadlines: UTC, elapsed time, across midnight and DST ---------------------------------------


def test_deadline_across_midnight_in_shanghai():
    now = datetime(2024, 5, 1, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    decision = route(pred("critical", flags=("safety",)), POLICY, now=now)
    assert decision.due_at.utcoffset() == timedelta(0)
    assert decision.due_at == datetime(2024, 5, 1, 16, 30, tzinfo=timezone.utc)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_time(decision.due_at, POLICY) == datetime(2024, 5, 2, 0, 30, tzinfo=shanghai)
    assert local_time(decision.due_at, POLICY).date().isoformat() == "2024-05-02"


@pytest.mark.parametrize(("local_now", "severity", "hours", "expected_local"), [
    # New York springs forward at 02:00 on 2024-03-10: 01:30 EST + 1 h is 03:30 EDT
    (datetime(2024, 3, 10, 1, 30), "critical", 1, datetime(2024, 3, 10, 3, 30)),
    # and falls back at 02:00 on 2024-11-03: 00:30 EDT + 4 h is 03:30 EST
    (datetime(2024, 11, 3, 0, 30), "high", 4, datetime(2024, 11, 3, 3, 30)),
    # 72 hours across a month end
    (datetime(2024, 2, 28, 22, 0), "low", 72, datetime(2024, 3, 2, 22, 0)),
])
def test_deadline_is_elapsed_time_across_dst(local_now, severity, hours, expected_local):
    zone = ZoneInfo("America/New_York")
    now = local_now.replace(tzinfo=zone)
    decision = route(pred(severity), POLICY, now=now)
    assert decision.due_at - now == timedelta(hours=hours)
    assert decision.due_at.tzinfo == timezone.utc
    assert decision.due_at.astimezone(zone).replace(tzinfo=None) == expected_local


def test_now_defaults_to_the_current_time():
    before = datetime.now(timezone.utc)
    decision = route(pred("high"), POLICY)
    after = datetime.now(timezone.utc)
    assert before + 4 * HOUR <= decision.due_at <= after + 4 * HOUR


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        route(pred("high"), POLICY, now=datetime(2024, 5, 1, 8, 0))


# ---- suggested actions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("prediction", "actions"), [
    (pred("high", causes=("product_quality",)), ("apology", "replacement", "refund")),
    (pred("low", causes=("logistics",)), ("apology",)),
    (pred("critical", causes=("service_attitude",), flags=("legal",)),
     ("apology", "refund", "compensation_coupon")),
    (pred("medium", causes=()), ("apology",)),  # no cause: the "other" row
    (pred("none", causes=()), ()),
])
def test_suggested_actions_by_cause_and_severity(prediction, actions):
    assert route(prediction, POLICY, now=NOW).suggested_actions == actions


def test_suggested_actions_join_every_cause_primary_first():
    prediction = pred("medium", causes=("logistics", "product_quality"),
                      cause_scores={"logistics": 0.6, "product_quality": 0.9})
    actions = route(prediction, POLICY, now=NOW).suggested_actions
    assert actions == ("apology", "replacement", "compensation_coupon")


def test_suggested_actions_come_from_the_policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[actions]\ncall_back = "Call the customer"\n'
                    '[suggestions.logistics]\nlow = ["call_back"]\n', encoding="utf-8")
    decision = route(pred("low", causes=("logistics",)), load_policy(path), now=NOW)
    assert decision.suggested_actions == ("call_back",)


# ---- inputs and outputs --------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "prediction"), [
    ("severity", pred("urgent")),
    ("flags", pred("high", flags=("violence",))),
    ("causes", pred("high", causes=("price",))),
])
def test_unknown_labels_in_a_prediction_are_rejected(field, prediction):
    with pytest.raises(InputError) as info:
        route(prediction, POLICY, now=NOW)
    assert info.value.field == field and f"prediction.{field}" in str(info.value)


def test_decision_is_json_serializable_and_names_the_review():
    decision = route(pred("critical", flags=("safety", "legal")), POLICY, now=NOW)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["due_at"] == "2024-05-01T09:00:00+00:00"
    assert [r["rule"] for r in data["reasons"]][:2] == ["rule_safety_flag", "rule_legal_media_privacy_flag"]
    assert decision.review_id == "r1"


def test_route_is_pure():
    prediction = pred("high", flags=("fraud",))
    assert route(prediction, POLICY, now=NOW) == route(prediction, POLICY, now=NOW)
