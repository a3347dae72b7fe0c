from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Projects, jobs and backups"

    def ready(self) -> None:
        from migrations_ops import audit_events
        from migrations_ops.pg import checks  # noqa: F401  (the sandbox's system checks)

        audit_events.register()  # how the change log says jobs, backups... in words
        register_job_hooks()


def register_job_hooks() -> None:
    """The SRE side's hooks into the job engine (``migrations_ops.jobs.hooks``).

    - options: a backup's output folder, a restore check's dump, a rehearsal's or
      rollback's plan and backup, and the target's deploy lock for apply and rollback;
    - backup: the manifest row is made and its restore check queued;
    - restore_check: the verification is recorded (and becomes checklist evidence);
    - rehearsal: the plan is marked and its evidence passes or fails;
    - any job an incident started: a timeline entry; a successful rollback frees its
      deployment and moves the release failed → rolled_back.
    """
    from migrations_ops.backups.job_files import sre_job_options
    from migrations_ops.backups.services import backup_record_from_job, backup_record_verification
    from migrations_ops.incidents.services import incident_job_finished
    from migrations_ops.jobs import hooks
    from migrations_ops.rollback.services import rehearsal_record

    hooks.add_options(sre_job_options)
    hooks.on_job_end("backups.manifest", lambda job: backup_record_from_job(job=job))
    hooks.on_job_end("backups.verification", lambda job: backup_record_verification(job=job))
    hooks.on_job_end("rollback.rehearsal", lambda job: rehearsal_record(job=job))
    hooks.on_job_end("incidents.timeline", lambda job: incident_job_finished(job=job))
