-- The release under review: members get an optional phone number, unique per group.
alter table app.members add column phone text;

create unique index members_phone_per_group on app.members (group_id, phone)
    where phone is not null;

comment on column app.members.phone is 'E.164 phone number, optional';
