"""The OpenAPI document is true: schemathesis generates requests from it and checks the answers.

In-process (WSGI), bounded: ``MAX_EXAMPLES`` cases per operation and generation mode (positive:
valid by the schema; negative: invalid by it), no deadline. The checks: no 5xx, every status code,
content type and header is documented, every body matches its schema, and requests that break the
schema are rejected with a 4xx.

schemathesis's own pytest plugin (``schemathesis.pytest.from_fixture``) does not run under
pytest 9 (it reads ``Function._nodeid``), so each operation is a plain parametrized test driving
``operation.as_strategy()`` with hypothesis.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reviewnlp.service.config import DEFAULTS, validate
from reviewnlp.service.openapi import build_spec

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
SPEC = build_spec(validate(dict(DEFAULTS)), "0")
OPERATIONS = [(method.upper(), path) for path, item in SPEC["paths"].items() for method in item]
#: Negative generation needs something to break: a parameter or a body.
CASES = [(method, path, mode) for method, path in OPERATIONS for mode in GenerationMode
         if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(SPEC["paths"][path][method.lower()])]
#: A 413 (body, batch or text over its limit) is a rejection too.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "404", "405", "409", "413", "415"]}}})


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)


def test_every_route_is_documented(app):
    routes = {(method, rule.rule.replace("<int(max=9223372036854775807):", "{").replace(">", "}"))
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_operation_conforms_to_the_document(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(checks=CHECKS)

    check()
