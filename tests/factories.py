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
    # Off here, on by default in the model: the gate then needs a risk job's result, which
    # only the tests of that rule (tests/migrations_ops/analysis/) arrange.
    high_risk_requires_sre = False


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


def published_runbook(project, number: int = 1, steps=None):
    """The shared runbook imported and published by the real importer (steps=None), or a
    version with the given steps: (section, key, text, owner, evidence kinds, requires
    evidence, is sign-off)."""
    from checklists.models import RunbookStep, RunbookVersion

    if steps is None:
        from checklists.runbooks.default import default_runbook_source
        from checklists.runbooks.services import runbook_import, runbook_publish

        draft = runbook_import(project=project, source_bytes=default_runbook_source(), user=None)
        return runbook_publish(version=draft, user=None, notes="test fixture")
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


def current_digest(release) -> str:
    """The release digest as the page would show it now (what a form carries back)."""
    from checklists.models import Release

    return Release.objects.values_list("digest", flat=True).get(pk=release.pk)


def sign_off(release, user, kind: str = "release_owner", password: str = PASSWORD):
    """``user`` signs ``release`` off as ``kind`` at the digest the page shows now."""
    from checklists.services.signoffs import signoff_give

    return signoff_give(
        release=release,
        seen_digest=current_digest(release),
        user=user,
        kind=kind,
        password=password,
    )


def second_lead(project, username: str = "lead-two"):
    """A second platform lead of ``project``: the other pair of eyes a waiver needs."""
    user = UserFactory(username=username)
    MembershipFactory(user=user, project=project, role="platform_lead")
    return user


def settle_checklist(
    release, owner, reason: str = "test: not part of this release", skip: tuple[str, ...] = ()
) -> None:
    """Settle every checklist item but the sign-offs (and the steps in ``skip``): items that need no evidence are
    marked not applicable by ``owner``; evidence-required ones are waived as not
    applicable, asked by ``owner`` and approved by a second platform lead."""
    from django.db import transaction

    from checklists.services.items import item_mark_not_applicable
    from checklists.services.waivers import waiver_approve, waiver_ask
    from release_portal.accounts.models import Membership

    approver = None
    for each in release.items.select_related("step").filter(step__is_signoff=False):
        if each.is_settled or each.step.key in skip:
            continue
        if each.step.requires_evidence:
            if approver is None:
                others = Membership.objects.filter(
                    project_id=release.project_id, role="platform_lead"
                ).exclude(user=owner)
                found = others.select_related("user").first()
                approver = found.user if found else second_lead(release.project)
            waiver = waiver_ask(
                item=each, user=owner, reason=reason if len(reason) >= 10 else f"{reason}: waived",
                seen_digest=current_digest(release), kind="not_applicable",
            )  # fmt: skip
            waiver_approve(waiver=waiver, user=approver, seen_digest=current_digest(release))
            continue
        with transaction.atomic():
            item_mark_not_applicable(item=each, user=owner, reason=reason)
    release.refresh_from_db()


def one_lead_breaks_glass(release) -> None:
    """Turn off "break-glass needs a second platform lead" for the release's project (for
    tests about what one lead's break-glass does; the default asks for a second lead)."""
    from migrations_ops.models import Project

    Project.objects.filter(pk=release.project_id).update(break_glass_needs_second_lead=False)
