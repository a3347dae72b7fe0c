"""Pages of the API feature (the JSON API itself is mounted from release_portal.urls),
each declared beside its view with ``@routes.path``."""

from release_portal.api import pages

urlpatterns = pages.routes.urlpatterns
