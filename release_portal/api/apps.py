from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "release_portal.api"
    label = "api"
    verbose_name = "API for CI"
