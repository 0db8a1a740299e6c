from tests.api.conftest import api_client  # noqa: F401  (the API tests' token client)
