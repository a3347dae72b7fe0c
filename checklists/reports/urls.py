"""This feature's pages: each declared beside its view with ``@routes.path``."""

from checklists.reports import views

urlpatterns = views.routes.urlpatterns
