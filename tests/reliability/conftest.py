"""The killed-worker test's fixtures (a fast Message-ID SMTP sink, worker processes in
their own process groups), shared with the journey reliability tests."""

from tests.reliability.test_worker_killed_mid_send import sink, workers  # noqa: F401
