"""``POST /releases/<pk>/apply``: deployers start the apply job; production needs the gate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from migrations_ops.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent")]


def apply_url(release):
    return reverse("release_apply", args=[release.pk])


def test_a_release_engineer_applies_to_staging(client, release_with_files, staging_target,
                                                release_engineer):  # fmt: skip
    client.force_login(release_engineer)
    response = client.post(apply_url(release_with_files), {"target": staging_target.pk})
    job = Job.objects.get(kind="apply")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert (job.target, job.params) == (staging_target, {"include_all": False})


def test_production_is_refused_while_the_gate_is_closed(
    client, release_with_files, production_target, platform_lead
):
    client.force_login(platform_lead)
    response = client.post(
        apply_url(release_with_files), {"target": production_target.pk}, follow=True
    )
    assert "The release gate is closed" in response.content.decode()
    assert not Job.objects.exists()


def test_production_is_applied_to_once_approved(
    client, approved_release, production_target, platform_lead
):
    client.force_login(platform_lead)
    client.post(apply_url(approved_release), {"target": production_target.pk})
    assert Job.objects.get().params["approved_digest"] == approved_release.digest


@pytest.mark.parametrize("role", ["qa_lead", "auditor"])
def test_roles_without_deploy_are_refused(client, release_with_files, staging_target,
                                          personas, role):  # fmt: skip
    client.force_login(personas[role])
    response = client.post(apply_url(release_with_files), {"target": staging_target.pk})
    assert response.status_code == 403 and not Job.objects.exists()


def test_other_projects_get_404_and_their_targets_are_not_choices(
    client, release_with_files, outsider, other_project, platform_lead
):
    from tests.factories import TargetFactory

    client.force_login(outsider)
    assert client.post(apply_url(release_with_files), {"target": 1}).status_code == 404
    foreign = TargetFactory(project=other_project, name="theirs")
    client.force_login(platform_lead)
    client.post(apply_url(release_with_files), {"target": foreign.pk})
    assert not Job.objects.exists()
