from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "release_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"
