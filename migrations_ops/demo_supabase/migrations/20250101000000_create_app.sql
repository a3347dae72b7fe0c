-- The app schema: savings groups and their members, each member a Supabase auth user.
create schema if not exists app;

create table app.groups (
    id bigint generated always as identity primary key,
    name text not null,
    created_at timestamptz not null default now()
);

create table app.members (
    id bigint generated always as identity primary key,
    group_id bigint not null references app.groups (id),
    user_id uuid not null,
    full_name text not null,
    created_at timestamptz not null default now()
);

alter table app.groups enable row level security;
alter table app.members enable row level security;

-- The groups the signed-in user belongs to. Security definer, so policies on
-- app.members can use it without recursing into themselves.
create function app.my_group_ids() returns setof bigint
language sql stable security definer set search_path = ''
as $$
    select group_id from app.members where user_id = auth.uid()
$$;

-- A member sees their own groups and the members of those groups.
create policy members_read_own_group on app.members
    for select to authenticated
    using (group_id in (select app.my_group_ids()));

create policy groups_read_own on app.groups
    for select to authenticated
    using (id in (select app.my_group_ids()));

grant usage on schema app to authenticated;
grant execute on function app.my_group_ids() to authenticated;
grant select on app.groups, app.members to authenticated;
