"""The password asked again for a sign-off and for break-glass locks like the login: after
LOGIN_FAILURE_LIMIT wrong ones within LOGIN_LOCKOUT_MINUTES, the right one is refused too
until the lockout expires. Per person; every refusal is in the change log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.deployments.services import gate_break_glass
from checklists.models import GateOverride, SignOff
from checklists.services.errors import ChecklistError
from release_portal.accounts.models import PasswordRecheckFailure
from release_portal.audit.models import AuditEvent
from tests.checklists.test_signoff import settle_everything
from tests.factories import PASSWORD, MembershipFactory, UserFactory, current_digest, sign_off

REASON = "Login outage: the hotfix migration must ship now"


@pytest.fixture
def limit(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_MINUTES = 15
    return 3


@pytest.fixture
def ready(release_with_files, platform_lead):
    settle_everything(release_with_files, platform_lead)
    return release_with_files


def fail_signing(release, user, times):
    for _ in range(times):
        with pytest.raises(ChecklistError, match="password is not right"):
            sign_off(release, user, password="wrong-password")


def test_signing_locks_after_the_limit_even_with_the_right_password(ready, platform_lead, limit):
    fail_signing(ready, platform_lead, limit)
    with pytest.raises(ChecklistError, match="Too many wrong passwords") as refusal:
        sign_off(ready, platform_lead)
    assert "until" in str(refusal.value) and "15 minutes" in str(refusal.value)
    assert not SignOff.objects.exists()
    assert AuditEvent.objects.filter(action="signoff.password_refused").count() == limit
    lockout = AuditEvent.objects.get(action="account.password_recheck_lockout")
    assert lockout.actor_name == "lead" and lockout.data["failures"] == limit
    locked = AuditEvent.objects.get(action="account.password_recheck_locked")
    assert locked.data["purpose"] == "signoff"


def test_the_last_attempts_are_counted_down(ready, platform_lead, limit):
    with pytest.raises(ChecklistError, match="2 more wrong passwords lock"):
        sign_off(ready, platform_lead, password="wrong-password")


def test_a_lockout_covers_break_glass_too(ready, platform_lead, limit):
    fail_signing(ready, platform_lead, limit)
    with pytest.raises(ChecklistError, match="Too many wrong passwords"):
        gate_break_glass(
            release=ready,
            seen_digest=current_digest(ready),
            user=platform_lead,
            reason=REASON,
            password=PASSWORD,
        )
    assert not GateOverride.objects.exists()


def test_wrong_break_glass_passwords_lock_it(release_with_files, platform_lead, limit):
    for _ in range(limit):
        with pytest.raises(ChecklistError, match="password is not right"):
            gate_break_glass(
                release=release_with_files,
                seen_digest=current_digest(release_with_files),
                user=platform_lead,
                reason=REASON,
                password="x",
            )
    with pytest.raises(ChecklistError, match="Too many wrong passwords"):
        gate_break_glass(
            release=release_with_files,
            seen_digest=current_digest(release_with_files),
            user=platform_lead,
            reason=REASON,
            password=PASSWORD,
        )
    assert AuditEvent.objects.filter(action="gate.break_glass_refused").count() == limit
    assert not GateOverride.objects.exists()


def test_the_lockout_expires(ready, platform_lead, limit):
    fail_signing(ready, platform_lead, limit)
    earlier = timezone.now() - timedelta(minutes=16)
    PasswordRecheckFailure.objects.update(at=earlier)
    assert sign_off(ready, platform_lead).user == platform_lead


def test_a_right_password_clears_the_count(ready, platform_lead, limit):
    fail_signing(ready, platform_lead, limit - 1)
    gate_open = gate_break_glass(
        release=ready,
        seen_digest=current_digest(ready),
        user=platform_lead,
        reason=REASON,
        password=PASSWORD,
    )
    assert gate_open.pk
    assert not PasswordRecheckFailure.objects.filter(user=platform_lead).exists()


def test_one_persons_lockout_leaves_others_alone(ready, platform_lead, project, limit):
    for _ in range(limit):
        with pytest.raises(ChecklistError):
            gate_break_glass(
                release=ready,
                seen_digest=current_digest(ready),
                user=platform_lead,
                reason=REASON,
                password="x",
            )
    other_lead = UserFactory(username="lead2")
    MembershipFactory(user=other_lead, project=project, role="platform_lead")
    override = gate_break_glass(
        release=ready,
        seen_digest=current_digest(ready),
        user=other_lead,
        reason=REASON,
        password=PASSWORD,
    )
    assert override.created_by == other_lead


def test_the_sign_off_page_says_so(client, ready, platform_lead, limit):
    client.force_login(platform_lead)
    url = reverse("release_signoff", kwargs={"pk": ready.pk})
    for _ in range(limit):
        client.post(
            url, {"kind": "release_owner", "password": "wrong", "seen_digest": ready.digest}
        )
    response = client.post(
        url,
        {"kind": "release_owner", "password": PASSWORD, "seen_digest": ready.digest},
        follow=True,
    )
    assert "Too many wrong passwords" in response.content.decode()
    assert not SignOff.objects.exists()


def test_the_break_glass_page_says_so(client, release_with_files, platform_lead, limit):
    client.force_login(platform_lead)
    url = reverse("break_glass", kwargs={"pk": release_with_files.pk})
    seen = current_digest(release_with_files)
    for _ in range(limit):
        client.post(url, {"reason": REASON, "password": "wrong", "seen_digest": seen})
    response = client.post(url, {"reason": REASON, "password": PASSWORD, "seen_digest": seen})
    assert response.status_code == 400
    assert "Too many wrong passwords" in response.content.decode()
    assert not GateOverride.objects.exists()
