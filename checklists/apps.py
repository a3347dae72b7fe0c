from typing import Any

from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = "Releases and checklists"

    def ready(self) -> None:
        from checklists import audit_events, job_hooks
        from release_portal.accounts.signals import role_lost

        audit_events.register()  # the change log's sentences and release picker
        job_hooks.register()
        role_lost.connect(_role_lost, dispatch_uid="checklists.signoffs_of_a_lost_role")


def _role_lost(sender: Any, *, user: Any, project_id: int, role: Any, actor: Any, **_: Any) -> None:
    """A sign-off given in a role its giver no longer holds stops counting."""
    from checklists.services.signoffs import signoffs_of_a_lost_role

    signoffs_of_a_lost_role(user=user, project_id=project_id, role=role, actor=actor)
