import factory
from django.contrib.auth import get_user_model

from migrations_ops.models import Project, Target
from release_portal.accounts.models import Membership

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    project = factory.SubFactory(ProjectFactory)
    name = "staging"
    kind = Target.Kind.STAGING
    url_env_var = "STAGING_DATABASE_URL"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = "qa_lead"


# --- runbooks and releases ----------------------------------------------------------------

# The shared runbook's 13 steps (§3 pre-flight and §6 checklist), as the importer reads them:
# (section, key, text, owner, evidence kinds, requires evidence, is sign-off)
RUNBOOK_STEPS = [
    (
        "3. Pre-flight Checks",
        "confirm-migrations-order",
        "Confirm `supabase/migrations` order is chronological and filenames use UTC timestamps.",
        "release_engineer",
        ["job:order"],
        False,
        False,
    ),
    (
        "3. Pre-flight Checks",
        "run-lint-typecheck-tests",
        "Run `pnpm run lint`, `pnpm run typecheck`, `pnpm run test:unit`, `pnpm run test:auth`, and `pnpm run test:rls` locally.",
        "release_engineer",
        ["job:commands"],
        False,
        False,
    ),
    (
        "3. Pre-flight Checks",
        "validate-staged-migration",
        "Validate staged migration by running `supabase migration up --linked --include-all --dry-run` against staging.",
        "release_engineer",
        ["job:dry_run"],
        False,
        False,
    ),
    (
        "3. Pre-flight Checks",
        "ensure-rls-fixtures",
        "Ensure RLS fixtures (`supabase/tests/fixtures/*`) match expected policies.",
        "qa_lead",
        ["job:fixtures"],
        True,
        False,
    ),
    (
        "3. Pre-flight Checks",
        "review-pending-migrations",
        "Review Supabase dashboard for pending or failed migrations.",
        "release_engineer",
        ["job:pending"],
        False,
        False,
    ),
    (
        "3. Pre-flight Checks",
        "verify-secrets",
        "Verify secrets (`SUPABASE_ACCESS_TOKEN`, `SUPABASE_STAGING_PROJECT_REF`, backups credentials) are present in GitHub.",
        "release_engineer",
        ["job:secrets", "ci:secrets"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "staging-migrations-applied",
        "Staging migrations applied successfully (CI job green).",
        "release_engineer",
        ["ci:staging_apply"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "rls-docker-suite-passed",
        "RLS Docker test suite passed on the merge commit.",
        "qa_lead",
        ["ci:rls_docker", "job:rls"],
        True,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "manual-backup-captured",
        "Manual Supabase backup captured and logged.",
        "sre",
        ["backup", "snapshot_ref"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "rollback-commands-prepared",
        "Rollback commands prepared (timestamp verified, `migration down` or restore path documented).",
        "sre",
        ["rollback_plan"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "smoke-and-security-checks",
        "Application smoke tests and security checks completed post-staging.",
        "qa_lead",
        ["link", "file"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "runbook-review-completed",
        "Runbook review completed (no steps outdated, docs updated if necessary).",
        "platform_lead",
        ["runbook_lint"],
        False,
        False,
    ),
    (
        "6. Runbook Checklist (Per Release)",
        "release-owner-signoff",
        "Release owner sign-off: `@<name>`",
        "release_owner",
        [],
        False,
        True,
    ),
]


def published_runbook(project, number: int = 1, steps=RUNBOOK_STEPS):
    from checklists.models import RunbookStep, RunbookVersion

    version = RunbookVersion.objects.create(
        project=project, number=number, title="Database Migration Runbook", source="# Runbook",
        source_sha256="0" * 64, status=RunbookVersion.Status.PUBLISHED,
    )  # fmt: skip
    RunbookStep.objects.bulk_create(
        RunbookStep(
            version=version,
            position=i,
            section=section,
            key=key,
            text=text,
            owner=owner,
            evidence_kinds=kinds,
            requires_evidence=requires,
            is_signoff=signoff,
        )
        for i, (section, key, text, owner, kinds, requires, signoff) in enumerate(steps, 1)
    )
    return version


def supabase_archive(files: dict[str, str], *, fmt: str = "zip") -> bytes:
    """An archive of a supabase/ folder: {"migrations/2025..._x.sql": "SQL", ...}."""
    import io
    import tarfile
    import zipfile

    buffer = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in files.items():
                archive.writestr(f"supabase/{name}", text)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(f"supabase/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


DEMO_MIGRATIONS = {
    "migrations/20250101000000_create_app.sql": "create schema if not exists app;\n",
    "migrations/20250102000000_members.sql": (
        "create table app.members (id bigint primary key, name text not null);\n"
        "alter table app.members enable row level security;\n"
    ),
    "rollbacks/20250102000000_members.sql": "drop table app.members;\n",
}
