"""Body limits, JSON errors everywhere, the OpenAPI schema and the docs page under CSP."""

import re

from django.contrib.staticfiles import finders

from tests.api.conftest import url


def test_it_refuses_json_bodies_over_the_limit(api, release_with_files, settings):
    settings.API_MAX_BODY_BYTES = 512
    response = api.post(url(f"/releases/{release_with_files.pk}/pull-request"), {
        "url": "https://github.com/acme/app/pull/" + "9" * 600, "approvals": 1,
        "template_checklist_complete": True,
    })  # fmt: skip
    assert response.status_code == 413
    assert response.json()["detail"] == {"limit": 512}
    assert response.json()["error"].endswith("the limit here is 512.")


def test_it_answers_json_404_for_unknown_api_paths(client):
    response = client.get("/api/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"].startswith("No API endpoint at /api/nothing/here")
    assert client.get("/api/").json()["error"].startswith("Not found")


def test_it_answers_json_405_with_the_allowed_methods(client):
    response = client.delete("/api/releases/1/gate")
    assert response.status_code == 405
    assert response.json()["detail"] == {"allowed": ["GET"]}
    assert response["Allow"] == "GET"


def test_it_serves_the_openapi_schema_without_a_token(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Release Portal API"
    assert "/api/releases/{release_id}/gate" in schema["paths"]
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    gate = schema["paths"]["/api/releases/{release_id}/gate"]["get"]["responses"]
    assert gate["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/GateOut")


def test_it_serves_the_docs_page_from_vendored_files_without_inline_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert len(scripts) == 2
    for attrs, body in scripts:
        assert body.strip() == ""  # no inline code
        assert f'nonce="{nonce}"' in attrs
        src = re.search(r'src="/static/([^"]+)"', attrs).group(1)
        assert finders.find(src), src
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert 'data-openapi-url="/api/openapi.json"' in html
    assert finders.find("vendor/swagger-ui/LICENSE")
    assert "style=" not in html
