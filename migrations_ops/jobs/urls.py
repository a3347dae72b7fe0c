"""This feature's pages: each declared beside its view with ``@routes.path``."""

from migrations_ops.jobs import views

urlpatterns = views.routes.urlpatterns
