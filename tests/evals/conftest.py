"""The workflows' fixtures (moto Step Functions with the real task handlers, the webhook receiver)."""

import pytest

from tests.calls.conftest import webhook_queue  # noqa: F401 - pytest fixture reused here
from tests.workflows.conftest import client, receiver, sfn  # noqa: F401 - pytest fixtures reused here


@pytest.fixture(autouse=True)
def _local_receivers_allowed(allow_private_urls):
    """The receivers and fakes here listen on 127.0.0.1 (tests/conftest.py ``allow_private_urls``)."""
