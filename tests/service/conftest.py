"""Fixtures of the service suite.

The app (and its model) is created once per test module: ``module_app`` opens a fresh SQLite
store in a temporary directory, so escalations from other modules never leak in. Tests that
change settings use ``monkeypatch.setitem(app.config, ...)``: the views read the config on each
request, so no second model load is needed.
"""
from __future__ import annotations

import pytest

from reviewnlp.routing import route
from reviewnlp.service import create_app

from .service_helpers import CALM_CANDIDATES, ESCALATING_CANDIDATES


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A service app with its own store, created once for the module; closed at the end."""
    store = tmp_path_factory.mktemp("service") / "escalations.db"
    application = create_app({"STORE": str(store), "API_KEYS": ""})
    application.config["TESTING"] = True
    yield application
    application.extensions["reviewnlp"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def state(app):
    return app.extensions["reviewnlp"]


def _pick(state, texts, escalate: bool) -> str:
    for text in texts:
        prediction = state.model.classify(text, id="probe")
        if route(prediction, state.policy).escalate is escalate:
            return text
    pytest.fail(f"the model {'escalates none' if escalate else 'escalates all'} of {texts}: update the fixtures")


@pytest.fixture(scope="module")
def escalating_text(app) -> str:
    """A review text that the loaded model and policy escalate."""
    return _pick(app.extensions["reviewnlp"], ESCALATING_CANDIDATES, True)


@pytest.fixture(scope="module")
def calm_text(app) -> str:
    """A review text that the loaded model and policy do not escalate."""
    return _pick(app.extensions["reviewnlp"], CALM_CANDIDATES, False)
