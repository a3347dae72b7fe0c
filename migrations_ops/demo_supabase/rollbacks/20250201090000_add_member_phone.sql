-- Down script for 20250201090000_add_member_phone: destroys the phone numbers.
drop index if exists app.members_phone_per_group;
alter table app.members drop column if exists phone;
