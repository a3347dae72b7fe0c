"""Forms for a project's settings page: the project's job settings and its targets."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from django import forms
from django.core.validators import validate_slug
from django.utils.text import capfirst

from migrations_ops.models import Project, Target
from migrations_ops.pg import installations
from release_portal.webhooks import outgoing

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# Commands run as argv lists, without a shell: these would reach the program literally.
SHELL_METACHARACTERS = ";|&$`<>"
MAX_COMMANDS = 20


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _items(raw: str) -> list[str]:
    """Names separated by commas, spaces or new lines."""
    return [item for item in re.split(r"[,\s]+", raw.strip()) if item]


def env_names(raw: str, what: str) -> list[str]:
    names: list[str] = []
    for name in _items(raw):
        if not ENV_NAME.match(name):
            raise forms.ValidationError(
                f"“{name}” is not an environment variable name: use capitals, digits and _ "
                f"(e.g. STAGING_DATABASE_URL), not a value. These are the {what}' names; their "
                "values stay in the environment and are never stored here."
            )
        if name not in names:
            names.append(name)
    return names


def relative_path(raw: str, what: str) -> str:
    path = raw.strip()
    if not path:
        raise forms.ValidationError(f"Give the {what}.")
    parts = PurePosixPath(path).parts
    if path.startswith(("/", "~")) or "\\" in path or ".." in parts or "\x00" in path:
        raise forms.ValidationError(
            f"“{path}”: the {what} is a path inside the repository, like supabase/tests; "
            "no leading /, ~ or .. ."
        )
    return path.rstrip("/")


def check_commands(raw: str) -> list[list[str]]:
    commands: list[list[str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        bad = sorted({c for c in line if c in SHELL_METACHARACTERS})
        if bad:
            shown = " ".join(f"“{c}”" for c in bad)
            raise forms.ValidationError(
                f"Line {number}: {shown} is a shell metacharacter. Check commands run without "
                "a shell, as a list of arguments, so it would reach the program literally. "
                "Write one command per line (e.g. pnpm run lint), and put anything more "
                "complex in a package.json script."
            )
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise forms.ValidationError(f"Line {number}: {e} (check the quotes).") from None
        commands.append(argv)
    if len(commands) > MAX_COMMANDS:
        raise forms.ValidationError(f"At most {MAX_COMMANDS} check commands.")
    return commands


class ProjectSettingsForm(forms.Form):
    migrations_source = forms.ChoiceField(choices=Project.MigrationsSource.choices)
    repo_path = forms.CharField(
        required=False,
        max_length=500,
        label="Repository path",
        help_text="Absolute path of the git checkout on the portal's machine (git source "
        "only). Each release reads its own commit from it.",
    )
    supabase_dir = forms.CharField(max_length=200, label="Supabase folder")
    schemas = forms.CharField(
        max_length=1000, help_text="Schemas to back up and compare, separated by commas."
    )
    fixture_files = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One SQL file per line, relative to the repository root, loaded first into "
        "every scratch database (Supabase roles, auth schema...).",
    )
    seed_files = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One SQL file per line, relative to the repository root.",
    )
    rollbacks_dir = forms.CharField(max_length=200, label="Rollbacks folder")
    check_commands = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One command per line, run in the checkout without a shell (e.g. pnpm run lint).",
    )
    command_env_names = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Environment passed to commands",
        help_text="Names of environment variables the commands may see (names only).",
    )
    command_timeout_seconds = forms.IntegerField(
        min_value=10, max_value=86400, label="Command timeout (seconds)"
    )
    required_secret_names = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Secret names the secrets check expects to be set (names only).",
    )
    dry_run_with_data = forms.BooleanField(
        required=False, label="Dry run with a copy of staging's data (not just its schema)"
    )
    dry_run_data_max_mb = forms.IntegerField(
        min_value=1, max_value=10240, label="Largest data copy for a dry run (MB)"
    )
    sandbox_pg_major = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="PostgreSQL for jobs without a target",
        help_text="The sandbox's cluster matches the target's version when it has one; RLS "
        "tests and fixture checks without a target use this (default: the highest installed).",
    )
    require_qa_signoff = forms.BooleanField(required=False, label="Require the QA lead's sign-off")
    require_sre_signoff = forms.BooleanField(required=False, label="Require the SRE's sign-off")
    high_risk_requires_sre = forms.BooleanField(
        required=False,
        label="A high-risk release requires the SRE's sign-off",
        help_text="The gate then also needs a risk result (the “Release risk” "
        "job) for the release's current migrations.",
    )
    uploader_may_not_sign = forms.BooleanField(
        required=False,
        label="The person who uploaded the migrations may not give the final sign-off",
    )
    backup_max_age_hours = forms.IntegerField(
        min_value=0,
        max_value=24 * 365,
        label="Largest age of the production backup at deployment (hours)",
        help_text="Runbook §5.1: the backup is taken before the production apply. The gate "
        "stays shut while the release's verified backup is older than this (0: no limit).",
    )
    break_glass_needs_second_lead = forms.BooleanField(
        required=False,
        label="Break-glass needs a second platform lead",
        help_text="An override opens the gate only once another platform lead confirms it.",
    )
    maintenance_webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Maintenance-mode webhook",
        help_text='Optional. Incidents POST {"maintenance_mode": true} or false here to flip '
        "the app's maintenance_mode flag; a failure is shown on the incident, never blocking.",
    )

    LIST_FIELDS = ("fixture_files", "seed_files", "command_env_names", "required_secret_names")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        majors = sorted({i.major for i in installations.installations()}, reverse=True)
        field = self.fields["sandbox_pg_major"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "Default (highest installed)")] + [
            (str(m), f"PostgreSQL {m}") for m in majors
        ]

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        return {
            "migrations_source": project.migrations_source,
            "repo_path": project.repo_path,
            "supabase_dir": project.supabase_dir,
            "schemas": ", ".join(project.schemas),
            "fixture_files": "\n".join(project.fixture_files),
            "seed_files": "\n".join(project.seed_files),
            "rollbacks_dir": project.rollbacks_dir,
            "check_commands": "\n".join(shlex.join(c) for c in project.check_commands or []),
            "command_env_names": "\n".join(project.command_env_names),
            "command_timeout_seconds": project.command_timeout_seconds,
            "required_secret_names": "\n".join(project.required_secret_names),
            "dry_run_with_data": project.dry_run_with_data,
            "dry_run_data_max_mb": project.dry_run_data_max_mb,
            "sandbox_pg_major": project.sandbox_pg_major or "",
            "require_qa_signoff": project.require_qa_signoff,
            "require_sre_signoff": project.require_sre_signoff,
            "high_risk_requires_sre": project.high_risk_requires_sre,
            "uploader_may_not_sign": project.uploader_may_not_sign,
            "backup_max_age_hours": project.backup_max_age_hours,
            "break_glass_needs_second_lead": project.break_glass_needs_second_lead,
            "maintenance_webhook_url": project.maintenance_webhook_url,
        }

    def clean_maintenance_webhook_url(self) -> str:
        url = self.cleaned_data["maintenance_webhook_url"].strip()
        if url:
            try:
                outgoing.check_destination(url)
            except outgoing.Refused as refused:
                raise forms.ValidationError(f"This URL cannot be used: {refused}.") from None
        return url

    def clean_repo_path(self) -> str:
        path = self.cleaned_data["repo_path"].strip()
        if path and not path.startswith("/"):
            raise forms.ValidationError("Give the checkout's absolute path (starting with /).")
        return path

    def clean_supabase_dir(self) -> str:
        return relative_path(self.cleaned_data["supabase_dir"], "Supabase folder")

    def clean_rollbacks_dir(self) -> str:
        return relative_path(self.cleaned_data["rollbacks_dir"], "rollbacks folder")

    def clean_schemas(self) -> list[str]:
        schemas = []
        for name in _items(self.cleaned_data["schemas"]):
            if not SCHEMA_NAME.match(name):
                raise forms.ValidationError(f"“{name}” is not a schema name.")
            if name not in schemas:
                schemas.append(name)
        if not schemas:
            raise forms.ValidationError("Name at least one schema (e.g. public).")
        return schemas

    def clean_fixture_files(self) -> list[str]:
        return [
            relative_path(p, "fixture file") for p in _lines(self.cleaned_data["fixture_files"])
        ]

    def clean_seed_files(self) -> list[str]:
        return [relative_path(p, "seed file") for p in _lines(self.cleaned_data["seed_files"])]

    def clean_check_commands(self) -> list[list[str]]:
        return check_commands(self.cleaned_data["check_commands"])

    def clean_command_env_names(self) -> list[str]:
        names = env_names(self.cleaned_data["command_env_names"], "variables")
        refusals = self.project.command_variable_refusals(names)
        if refusals:
            raise forms.ValidationError([*refusals, "Remove it from this list."])
        return names

    def clean_required_secret_names(self) -> list[str]:
        return env_names(self.cleaned_data["required_secret_names"], "secrets")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("migrations_source") == Project.MigrationsSource.GIT and not data.get(
            "repo_path"
        ):
            self.add_error("repo_path", "The git source needs the checkout's path.")
        return data


class TargetForm(forms.Form):
    name = forms.CharField(
        max_length=40, validators=[validate_slug], help_text="e.g. staging, production"
    )
    kind = forms.ChoiceField(choices=Target.Kind.choices)
    url_env_var = forms.CharField(
        max_length=100,
        label="Environment variable holding the URL",
        help_text="Its NAME, e.g. STAGING_DATABASE_URL. The URL itself is never stored or shown.",
    )

    def __init__(self, *args: Any, project: Project, target: Target | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.project = project
        self.target = target

    def clean_url_env_var(self) -> str:
        value = self.cleaned_data["url_env_var"].strip()
        if "://" in value or "@" in value:
            # Never echo a URL (it may hold a password) back into the page.
            data = dict(self.data.items())
            data[self.add_prefix("url_env_var")] = ""
            self.data = data
            raise forms.ValidationError(
                "That looks like a URL: give the NAME of the environment variable that holds "
                "it (e.g. STAGING_DATABASE_URL), never the URL itself."
            )
        if not ENV_NAME.match(value):
            raise forms.ValidationError(
                "That is not an environment variable name: use capitals, digits and _ "
                "(e.g. STAGING_DATABASE_URL)."
            )
        # A disabled target may keep its variable while renamed; a new one must pass.
        if self.target is None or value != self.target.url_env_var:
            refusal = Target.objects.refusal_for(project=self.project, variable=value)
            if refusal is not None:
                raise forms.ValidationError(refusal.message)
        return value

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        others = Target.objects.filter(project=self.project, name=name)
        if self.target is not None:
            others = others.exclude(pk=self.target.pk)
        if others.exists():
            raise forms.ValidationError(f"This project already has a target named {name}.")
        return name


def field_problem(form: forms.Form, name: str, default: str) -> str:
    """What is wrong with ``form``'s field ``name`` as one message, else ``default``."""
    return " ".join(str(e) for e in form.errors.get(name) or []) or default


class _KeptRows(forms.models.ModelChoiceIterator):
    """The field's options from its queryset's own rows, kept after the first read (a
    project has a few targets): a page that reads them too asks the database once."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class TargetChoiceField(forms.ModelChoiceField):
    """One of a project's targets. A disabled one is offered with its reason beside its
    name, and refused with the whole reason (``Target.refusal``)."""

    iterator = _KeptRows

    def __init__(self, *args: Any, refuse_disabled: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Target.objects.none())
        super().__init__(*args, **kwargs)
        self.refuse_disabled = refuse_disabled

    def _set_queryset(self, queryset: Any) -> None:
        # The rule's inputs come with the targets: no query per option.
        super()._set_queryset(None if queryset is None else queryset.with_rule())  # type: ignore[misc]

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)  # type: ignore[attr-defined]

    def share(self, targets: list[Target], *, first: str | None = None) -> None:
        """Offer ``targets``, read once by a page for all its forms, instead of one query
        per form; ``first`` is an empty choice shown first (nothing preselected), else
        the field's own empty label, if any."""
        empty = first if first is not None else self.empty_label
        self.choices = ([("", empty)] if empty is not None else []) + [
            (t.pk, self.label_from_instance(t)) for t in targets
        ]

    def offer(self, project: Project) -> None:
        """Offer ``project``'s targets by name, production chosen first (the runbook's
        backups, rollbacks and incidents are about production)."""
        self.queryset = Target.objects.filter(project=project).order_by("name")
        # One query: the field's queryset keeps its rows (a page reuses them).
        production = next(
            (t for t in self.queryset if t.kind == Target.Kind.PRODUCTION),
            None,
        )
        if production is not None:
            self.initial = production.pk

    def label_from_instance(self, obj: Any) -> str:
        # The target's own name, as every page and the API name it ("production"): the
        # field offers one project's targets, so str()'s "demo/production" says nothing more.
        label = obj.name
        refusal = obj.refusal
        return f"{label} (disabled: {refusal.short})" if refusal else label

    def clean(self, value: Any) -> Any:
        target = super().clean(value)
        if target is not None and self.refuse_disabled and (disabled := target.disabled_reason):
            raise forms.ValidationError(capfirst(disabled))
        return target


class ProjectCreateForm(forms.Form):
    """The operators' page: a project and the email of its first platform lead."""

    name = forms.CharField(max_length=120)
    slug = forms.SlugField(max_length=60, help_text="Its short name in URLs, e.g. shop.")
    lead_email = forms.EmailField(
        label="First platform lead's email", help_text="They get a link to set a password."
    )
