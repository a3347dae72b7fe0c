-- Helpers the later RLS test files call: act as a given Supabase user.
create schema if not exists tests;

create or replace function tests.act_as(user_id uuid) returns void
language plpgsql as $$
begin
    perform set_config('request.jwt.claim.sub', user_id::text, false);
    execute 'set role authenticated';
end
$$;

grant usage on schema tests to authenticated;
grant execute on function tests.act_as(uuid) to authenticated;
