"""An inline email must carry an unsubscribe link to be published; sent, the link is the
delivery's own, with the one-click headers."""

import pytest

from campaigns.rendering import step_renderer
from channels.unsubscribe import unsubscribe_url
from tests.factories import DeliveryFactory, StepFactory
from tests.lifecycle.builders import MARKETING_HTML

pytestmark = pytest.mark.django_db


def test_an_inline_email_renders_the_deliverys_unsubscribe_link_and_headers():
    step = StepFactory(html_body=MARKETING_HTML)
    delivery = DeliveryFactory(campaign_step=step)

    content = step_renderer(step)(delivery)

    assert f'href="{unsubscribe_url(delivery.pk)}"' in content["html"]
    assert unsubscribe_url(delivery.pk) in content["headers"]["List-Unsubscribe"]
    assert content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
