"""What a Supabase database has before any migration, made by the portal itself.

A restore check and a rollback rehearsal restore a backup *of production* into a scratch
database. A backup of selected schemas (``app``, ``public``) names what it does not carry:
the API roles in its grants and policies, ``auth.users`` in its foreign keys,
``auth.uid()`` in its policies and defaults. The release's fixtures give a scratch
database those things for the dry run and the RLS tests, but fixtures are bundle content
(anyone with an upload role or a CI token writes them) and run as the sandbox cluster's
superuser: beside a production backup's rows they could read them (an event trigger on
the restore's statements, a process started with ``COPY ... TO PROGRAM``) and print them
into a log every member of the project reads. So those two jobs never run them; this
module makes the same baseline from the portal's own SQL instead, for the schemas the
backup leaves out (a backup that holds ``auth`` brings its own).

The SQL follows Supabase's own definitions (supabase/postgres ``auth`` migrations and
GoTrue's ``auth.users``), reduced to what a backed-up schema can name: the functions read
the same settings PostgREST sets, and ``auth.users`` has GoTrue's columns (no rows).
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

# Supabase's API roles, made NOLOGIN when the scratch server lacks them.
ROLES = ("anon", "authenticated", "service_role")

_SCHEMAS: dict[str, str] = {
    # With the contrib extensions Supabase enables there by default, when installed.
    "extensions": """
CREATE SCHEMA IF NOT EXISTS extensions;
DO $$
DECLARE e text;
BEGIN
  FOREACH e IN ARRAY ARRAY['uuid-ossp', 'pgcrypto'] LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = e) THEN
      EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA extensions', e);
    END IF;
  END LOOP;
END $$;
""",
    "auth": """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid NOT NULL PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text UNIQUE,
  phone_confirmed_at timestamptz,
  phone_change text DEFAULT '',
  phone_change_token varchar(255) DEFAULT '',
  phone_change_sent_at timestamptz,
  email_change_token_current varchar(255) DEFAULT '',
  email_change_confirm_status smallint DEFAULT 0,
  banned_until timestamptz,
  reauthentication_token varchar(255) DEFAULT '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean NOT NULL DEFAULT false,
  deleted_at timestamptz,
  is_anonymous boolean NOT NULL DEFAULT false
);
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
CREATE OR REPLACE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
""",
}

_GRANTS = """
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA auth TO %I', r);
      EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO %I', r);
    END IF;
  END LOOP;
END $$;
"""

DESCRIPTIONS = {
    "extensions": "schema extensions (uuid-ossp and pgcrypto where installed)",
    "auth": "schema auth (auth.users without rows, auth.uid(), auth.role(), auth.email(), "
    "auth.jwt())",
}


def make(conn: psycopg.Connection, *, backed_up: Iterable[str]) -> list[str]:
    """Make, in ``conn``'s database, the baseline schemas the backup does not carry; what
    was made, in words. The backup's own schemas are left for the restore to create."""
    skip = set(backed_up)
    made = []
    for schema, text in _SCHEMAS.items():
        if schema in skip:
            continue
        if conn.execute(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema]
        ).fetchone():
            continue
        conn.execute(text.encode())
        if schema == "auth":
            conn.execute(_GRANTS.encode())
        made.append(DESCRIPTIONS[schema])
    return made
