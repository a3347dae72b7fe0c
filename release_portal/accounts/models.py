from django.conf import settings
from django.db import models

from release_portal.accounts.roles import Role


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active_leads(self) -> "MembershipQuerySet":
        """Platform-lead roles of people who can sign in: those told of a project's tokens,
        and those whose tokens work."""
        return self.filter(role=Role.PLATFORM_LEAD, user__is_active=True)


class Membership(models.Model):
    """A person's role in one project. Several roles per person and project are allowed."""

    # Not stored: the password link member_invite mailed to a new account, so a caller that
    # shows it (project_create) shows the very link in the mail, not a second one.
    invite_link: str | None = None

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "project", "role"], name="membership_one_role_once"
            ),
        ]
        # The project's members page lists by project; roles_by_project() reads by user
        # (served by the unique constraint's index, which starts with user).
        indexes = [models.Index(fields=["project", "role"], name="membership_by_project")]
        ordering = ["project", "user__username", "role"]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} in {self.project}"


class PasswordRecheckFailure(models.Model):
    """One wrong password given where the portal asks for it again (a sign-off,
    break-glass); release_portal.accounts.recheck counts them for the lockout."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    purpose = models.CharField(max_length=40)

    class Meta:
        # The lockout counts a person's failures within the last minutes.
        indexes = [models.Index(fields=["user", "at"], name="recheck_failures_by_user")]

    def __str__(self) -> str:
        return f"{self.user} gave a wrong password for {self.purpose} at {self.at}"
