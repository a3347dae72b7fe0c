from tests.api.conftest import url


def test_it_answers_the_gate_for_an_approved_release(api, approved_release):
    response = api.get(url(f"/releases/{approved_release.pk}/gate"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["open"] is True
    assert body["digest"] == approved_release.digest
