"""Issue 17 item 8: selects name their empty choice instead of showing "---------"."""

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_import_form_select_names_its_empty_choice(client, marketer):
    client.force_login(marketer)
    page = client.get(reverse("privacy:import_new")).content.decode()
    assert "---------" not in page
    assert "No saved mapping" in page
