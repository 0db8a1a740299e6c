import pytest

from channels.decisions import forget_plans
from tests.api.conftest import api_client  # noqa: F401 — the API tests' token client


@pytest.fixture(autouse=True)
def fresh_plans():
    """Plans are cached per process: a test never sees another test's placements."""
    forget_plans()
    yield
    forget_plans()
