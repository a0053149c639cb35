import pytest

from tests.factories import api_key_for


@pytest.mark.django_db
def test_too_many_requests_for_one_key_are_rate_limited(api_client, alice, bob, settings):
    settings.MAILPASS_API_RATE = "2/min"  # read by ApiKeyRateThrottle on each request
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(alice)}")
    for _ in range(2):
        assert api_client.post("/api/v1/mail/send", {}, format="json").status_code != 429
    response = api_client.post("/api/v1/mail/send", {}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response["Retry-After"]) <= 60

    # The limit is per key: another key still gets through.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(bob)}")
    assert api_client.post("/api/v1/mail/send", {}, format="json").status_code != 429
