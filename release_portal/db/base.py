"""PostgreSQL backend for the portal: Django's own, plus one rule for ``flush``.

The change log's trigger refuses TRUNCATE of ``audit_auditevent`` unless the
transaction-local setting ``release_portal.audit_truncate`` is ``on``. Django's flush
(run by ``manage.py flush`` and between transactional tests) is the only place that
sets it, as the first statement of its own transaction. The cost: someone who can run
``manage.py flush`` against the production database can still empty the log; that
person already holds the database credentials, and exported head hashes show the loss.
"""

from django.db.backends.postgresql import base, operations

ALLOW_AUDIT_TRUNCATE = "SET LOCAL release_portal.audit_truncate = 'on';"


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if statements and "audit_auditevent" in tables:
            statements.insert(0, ALLOW_AUDIT_TRUNCATE)
        return statements


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
