"""This feature's pages: each declared beside its view with ``@routes.path``."""

from migrations_ops.analysis import views

urlpatterns = views.routes.urlpatterns
