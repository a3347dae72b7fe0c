"""This feature's pages: each declared beside its view with ``@routes.path``."""

from checklists.owners import views

urlpatterns = views.routes.urlpatterns
