"""The ORM-free PostgreSQL library the runners and the sandbox use."""
