"""Routing policy files: the packaged default, overrides, and errors that name the key."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from reviewnlp.errors import PolicyError
from reviewnlp.labels import CAUSES, SEVERITIES
from reviewnlp.routing import Policy, load_policy


def write(tmp_path, text: str):
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_is_labels_md_section_5():
    policy = load_policy()
    assert {s: d / timedelta(hours=1) for s, d in policy.severity_deadlines.items()} == {
        "low": 72, "medium": 24, "high": 4, "critical": 1}
    assert {f: d / timedelta(hours=1) for f, d in policy.flag_deadlines.items()} == {
        "safety": 1, "legal": 1, "media": 1, "privacy": 1, "fraud": 4}
    team = {name: policy.queues[queue] for name, queue in policy.flag_queues.items()}
    assert team == {"safety": "safety team", "legal": "legal & PR", "media": "legal & PR",
                    "privacy": "legal & PR"}
    assert {c: policy.queues[q] for c, q in policy.cause_queues.items()} == {
        "product_quality": "quality team", "logistics": "logistics team",
        "service_attitude": "customer-service supervisor", "other": "after-sales"}
    assert policy.queues[policy.human_review_queue] == "human review"
    assert set(policy.suggestions) == set(CAUSES)
    assert all(set(per) == set(SEVERITIES[1:]) for per in policy.suggestions.values())
    assert 0 < policy.thresholds.min_confidence < 1
    assert policy.source == "<default policy>"


def test_user_file_overrides_only_the_keys_it_sets(tmp_path):
    policy = load_policy(write(tmp_path, """
timezone = "Europe/Berlin"
[deadlines.severity]
high = 2.5
[queues.vip]
team = "VIP desk"
[routing.cause_queues]
logistics = "vip"
"""))
    assert policy.timezone == "Europe/Berlin"
    assert policy.severity_deadlines["high"] == timedelta(hours=2.5)
    assert policy.severity_deadlines["medium"] == timedelta(hours=24)  # from the default
    assert policy.cause_queues["logistics"] == "vip" and policy.queues["vip"] == "VIP desk"
    assert policy.cause_queues["product_quality"] == "quality"
    assert policy.source == str(tmp_path / "policy.toml")


def test_policy_is_immutable():
    policy = load_policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.severity_deadlines["high"] = timedelta(hours=9)  # type: ignore[index]
    assert isinstance(policy, Policy)


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('colour = "red"', "colour", "unknown key"),
    ("[deadlines.severity]\nhgh = 4", "deadlines.severity.hgh", "unknown severity"),
    ("[deadlines.severity]\nnone = 4", "deadlines.severity.none", "not allowed here"),
    ("[deadlines.flag]\nsafty = 1", "deadlines.flag.safty", "unknown flag"),
    ("[deadlines.flag]\nsafety = -1", "deadlines.flag.safety", "positive"),
    ("[deadlines.severity]\nhigh = 0", "deadlines.severity.high", "positive"),
    ('[deadlines.severity]\nhigh = "4h"', "deadlines.severity.high", "expected a number, got a string"),
    ("[deadlines.severity]\nhigh = true", "deadlines.severity.high", "expected a number, got a boolean"),
    ("deadlines = 5", "deadlines", "expected a table"),
    ('[thresholds]\nmin_confidence = "high"', "thresholds.min_confidence", "expected a number"),
    ("[thresholds]\nmin_confidence = 1.5", "thresholds.min_confidence", "between 0 and 1"),
    ("[thresholds]\nmax_confidence = 0.9", "thresholds.max_confidence", "unknown key"),
    ('[routing.cause_queues]\nlogistics = "nowhere"', "routing.cause_queues.logistics",
     "queue 'nowhere' is not defined"),
    ('[routing.cause_queues]\nshipping = "logistics"', "routing.cause_queues.shipping", "unknown cause"),
    ('[routing.flag_queues]\nfraud = "legal_pr"', "routing.flag_queues.fraud", "not allowed here"),
    ('[routing]\nhuman_review_queue = "humans"', "routing.human_review_queue", "not defined in [queues]"),
    ("[queues.safety]\nteam = 3", "queues.safety.team", "expected a non-empty string, got an integer"),
    ('[queues.safety]\nowner = "x"', "queues.safety.owner", "unknown key"),
    ('[suggestions.logistic]\nlow = ["apology"]', "suggestions.logistic", "unknown cause"),
    ('[suggestions.logistics]\nlow = ["hug"]', "suggestions.logistics.low[0]", "action 'hug' is not defined"),
    ('[suggestions.logistics]\nlow = "apology"', "suggestions.logistics.low", "expected an array"),
    ('[suggestions.logistics]\nmeh = ["apology"]', "suggestions.logistics.meh", "unknown severity"),
    ('timezone = "Mars/Olympus_Mons"', "timezone", "unknown time zone"),
    ("version = 2", "version", "unsupported policy version"),
])
def test_malformed_policy_names_the_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert info.value.key == key
    assert f"{key}: " in message
    assert problem in message
    assert str(path) in message


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, '[deadlines.severity]\nhigh = 4\nmedium = = 24\n')
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(info.value).startswith(f"{path}:3: invalid TOML")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(PolicyError, match=r"nope\.toml: cannot read policy file"):
        load_policy(tmp_path / "nope.toml")


def test_policy_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_policy(write(tmp_path, "colour = 1"))
