"""Make the change log append-only at the database level.

UPDATE and DELETE of an event are refused for everyone but a superuser who drops the
trigger first. TRUNCATE is refused unless Django's flush set
``release_portal.audit_truncate`` in its own transaction (see release_portal/db/base.py).
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the change log is append-only: % of audit events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed or removed; record a new event instead.';
END
$$;

CREATE FUNCTION audit_event_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('release_portal.audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the change log is append-only: TRUNCATE of audit events is not allowed'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_refuse_truncate();
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
