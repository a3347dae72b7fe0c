"""This feature's pages: each declared beside its view with ``@routes.path``."""

from checklists.runbooks import views

urlpatterns = views.routes.urlpatterns
