"""The ORM-free PostgreSQL library the runners and the sandbox use: no models, no Celery.

Where bundle content runs:

- ``sandbox``, ``unsandboxed``, ``job_sandbox``, ``installations``: the job's sandbox and
  its PostgreSQL cluster; ``checks``: ``manage.py check`` on them (reads settings).

What a release does to the database (no Django at all: psycopg and pglast only; tested
with a database URL alone):

- ``locks``: PostgreSQL's table lock modes and what each one blocks;
- ``sql_names``, ``statement_effects`` (with ``alter_table_effects``, ``effect_model``,
  ``data_loss``, ``hazards``): what one statement does, read from its parse tree;
- ``target_facts``: table sizes and data-loss counts read from a target, read-only;
- ``lock_recorder``: the locks each statement really took on a scratch copy, and for how
  long;
- ``release_risk``, ``risk_rules``, ``risk_report``: the statements settled against the
  target, their risk levels explained, and the report (and its Markdown);
- ``squawk``: the squawk linter's findings, as a second opinion;
- ``access_matrix``, ``row_sample``, ``supabase_lints``: who can read and write what
  under RLS, on a copy with rows, and Supabase's lints.
"""
