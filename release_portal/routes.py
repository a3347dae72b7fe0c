"""A feature's pages, each declared beside its view, as the API's endpoints are with
django-ninja's ``@router.get(...)``.

In a feature's ``views.py``::

    routes = Routes()

    @routes.path("backups/<int:pk>/verify", name="backup_verify")
    @require_POST
    def backup_verify_view(request, pk): ...

and its ``urls.py`` is ``urlpatterns = views.routes.urlpatterns``. ``routes.path`` takes
the same route syntax and name as Django's ``path()`` and registers the view in the
order the module defines it. It must be the outermost decorator, so that the page is
the view with its method checks and caching rules; the system check below
(``routes.E001``) names any page registered under another decorator.

``urlpatterns`` nests routes that share a leading segment under one ``include()`` of
that segment (``releases/`` then ``<int:pk>/`` ...), as a hand-written urlconf would:
Django's resolver tries patterns one by one, and a prefix that does not match skips its
whole group, so a request does not try every page of a feature in turn. The same URLs,
names and captured arguments either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

from django.core.checks import Error, Tags, register
from django.urls import URLPattern, URLResolver, get_resolver, include, path

# One registered page: its route, view, extra kwargs and name.
Route = tuple[str, Callable[..., Any], dict[str, Any] | None, str]


class Routes:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    @property
    def urlpatterns(self) -> list[URLPattern | URLResolver]:
        """The registered pages in the order they were declared, those sharing a leading
        segment nested under it."""
        return _nested(self.routes)

    def path[V: Callable[..., Any]](
        self, route: str, *, name: str, kwargs: dict[str, Any] | None = None
    ) -> Callable[[V], V]:
        """Register the decorated view at ``route`` as the URL named ``name``. ``kwargs``
        are passed to the view, as with ``path()``: one view that serves several routes
        (the decorators stacked) learns which one it answers."""

        def register(view: V) -> V:
            self.routes.append((route, view, kwargs, name))
            return view

        return register


def _nested(routes: list[Route]) -> list[URLPattern | URLResolver]:
    """``routes`` as patterns, those with the same first segment ("releases/") nested
    under one ``path(segment, include(...))`` placed where the first of them stood, and
    so on down the rest of their routes. A route of one segment, or alone with its first
    segment, stays a pattern of its own."""
    order: list[Route | str] = []  # a route, or the first segment of a group
    groups: dict[str, list[Route]] = {}
    for route, view, kwargs, name in routes:
        head, slash, rest = route.partition("/")
        if not slash:
            order.append((route, view, kwargs, name))
            continue
        if head + slash not in groups:
            groups[head + slash] = []
            order.append(head + slash)
        groups[head + slash].append((rest, view, kwargs, name))
    patterns: list[URLPattern | URLResolver] = []
    for entry in order:
        if isinstance(entry, str):
            group = groups[entry]
            if len(group) > 1:
                patterns.append(path(entry, include(_nested(group))))
                continue
            rest, view, kwargs, name = group[0]
            entry = (entry + rest, view, kwargs, name)
        route, view, kwargs, name = entry
        patterns.append(path(route, view, kwargs, name=name))
    return patterns


def _patterns(resolver: URLResolver) -> Iterator[URLPattern]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry)
        else:
            yield entry


def _wraps(outer: Any, inner: Any) -> bool:
    while (outer := getattr(outer, "__wrapped__", None)) is not None:
        if outer is inner:
            return True
    return False


@register(Tags.urls)
def routes_outermost_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A URL must serve what its module exports: a page registered below another
    decorator (``@require_POST`` above ``@routes.path``) would skip that decorator."""
    errors = []
    for pattern in _patterns(get_resolver()):
        view = pattern.callback
        module = sys.modules.get(getattr(view, "__module__", ""))
        exported = getattr(module, getattr(view, "__name__", ""), None)
        if exported is not view and _wraps(exported, view):
            errors.append(
                Error(
                    f"The page {pattern.name!r} serves {view.__module__}.{view.__name__} "
                    "without the decorators above its route.",
                    hint="Put @routes.path(...) first, above every other decorator.",
                    id="routes.E001",
                )
            )
    return errors
