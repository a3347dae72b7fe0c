"""Post-deploy monitoring: the runbook's 30 minutes of watching production after a deploy.

A production deployment that succeeded starts a MonitoringWindow (``monitoring_start``,
called by the deployment records). Every minute Celery beat samples each running
window's health queries against its target (``monitoring_tick``): the project's
HealthQuery rows (blocked locks, long-running statements, rollbacks per minute by
default, plus any the project adds), each run read-only with a short statement timeout.
A value past its threshold marks the window alerted, writes an audit event, notifies
(``monitoring.alert``, which reaches the project's webhooks) and offers an incident.
When the window ends clean the release becomes deployed; an SRE or platform lead may
close it early, with a reason, which also marks the release deployed.

A Django app of its own (label ``monitoring``) so its migrations never interleave with
``migrations_ops``' own.
"""
