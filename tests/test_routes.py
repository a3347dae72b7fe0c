"""Pages are declared beside their views with ``@routes.path``
(release_portal/routes.py): the URLs stay what they were, and a route written below
another decorator is a system-check error, not a page that skips its method check."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import override_settings
from django.urls import URLResolver, resolve, reverse
from django.views.decorators.http import require_POST

from release_portal.routes import Routes, routes_outermost_check

routes = Routes()


@routes.path("outermost/", name="outermost")
@require_POST
def outermost(request):
    return HttpResponse("ok")


@require_POST
@routes.path("below/", name="below")
def below(request):
    return HttpResponse("ok")


urlpatterns = routes.urlpatterns


def test_it_registers_the_view_in_the_order_the_module_defines_it():
    assert [p.name for p in routes.urlpatterns] == ["outermost", "below"]
    assert routes.urlpatterns[0].callback is outermost


def test_it_keeps_the_portals_page_urls():
    # The interfaces that stay (issue 12): scripts and the docs use these paths.
    assert reverse("release_detail", kwargs={"pk": 7}) == "/releases/7/"
    assert reverse("item_tick", kwargs={"pk": 7, "item_pk": 3}) == "/releases/7/items/3/tick"
    assert reverse("job_detail", kwargs={"pk": 7}) == "/jobs/7/"
    assert reverse("audit_log") == "/audit/"
    assert reverse("audit_public_key") == "/audit/public-key.pem"
    assert reverse("backup_verify", kwargs={"pk": 2}) == "/backups/2/verify"
    assert resolve("/releases/new").url_name == "release_new"
    assert resolve("/releases/7/").url_name == "release_detail"


def test_it_finds_no_misplaced_route_in_the_portal():
    assert routes_outermost_check() == []


@override_settings(ROOT_URLCONF=__name__)
def test_it_names_a_route_written_below_another_decorator():
    errors = routes_outermost_check()

    assert [e.id for e in errors] == ["routes.E001"]
    assert "'below'" in errors[0].msg
    assert "tests.test_routes.below" in errors[0].msg


def test_it_serves_the_method_check_of_an_outermost_route(rf):
    def get(path):
        return resolve(path, urlconf=__name__).func(rf.get(path)).status_code

    assert get("/outermost/") == 405
    # The misplaced one skips @require_POST: what the check exists to prevent.
    assert get("/below/") == 200


def _view(request, **kwargs):
    return HttpResponse("ok")


def test_routes_sharing_a_leading_segment_are_nested_under_it():
    nested = Routes()
    for route, name in (
        ("things/", "things"),
        ("things/new", "thing_new"),
        ("things/<int:pk>/", "thing"),
        ("things/<int:pk>/edit", "thing_edit"),
        ("other/<int:pk>/only", "other_only"),
    ):
        nested.path(route, name=name)(_view)
    patterns = nested.urlpatterns

    # Everything under things/ is one group, and <int:pk>/ one group inside it; a first
    # segment with one page is not nested.
    assert [type(p).__name__ for p in patterns] == ["URLResolver", "URLPattern"]
    group = patterns[0]
    assert isinstance(group, URLResolver) and str(group.pattern) == "things/"
    assert [str(p.pattern) for p in group.url_patterns] == ["", "new", "<int:pk>/"]
    assert [str(p.pattern) for p in group.url_patterns[2].url_patterns] == ["", "edit"]
    assert str(patterns[1].pattern) == "other/<int:pk>/only"
    # The same URLs, names and captured arguments as flat patterns.
    conf = type("Conf", (), {"urlpatterns": patterns})
    for path, name, kwargs in (
        ("things/", "things", {}),
        ("things/new", "thing_new", {}),
        ("things/7/", "thing", {"pk": 7}),
        ("things/7/edit", "thing_edit", {"pk": 7}),
        ("other/7/only", "other_only", {"pk": 7}),
    ):
        match = resolve("/" + path, urlconf=conf)
        assert (match.url_name, match.kwargs) == (name, kwargs)
        assert reverse(name, kwargs=kwargs, urlconf=conf) == "/" + path
