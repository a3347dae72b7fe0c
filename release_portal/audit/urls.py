"""This feature's pages: each declared beside its view with ``@routes.path``."""

from release_portal.audit import views

urlpatterns = views.routes.urlpatterns
