-- Contributions paid into a group; members see their own group's contributions.
create table app.contributions (
    id bigint generated always as identity primary key,
    member_id bigint not null references app.members (id),
    amount_cents integer not null check (amount_cents > 0),
    paid_at timestamptz not null default now()
);

alter table app.contributions enable row level security;

create policy contributions_read_own_group on app.contributions
    for select to authenticated
    using (member_id in (
        select m.id from app.members m where m.group_id in (select app.my_group_ids())
    ));

create policy contributions_insert_own on app.contributions
    for insert to authenticated
    with check (member_id in (select m.id from app.members m where m.user_id = auth.uid()));

grant select, insert on app.contributions to authenticated;
