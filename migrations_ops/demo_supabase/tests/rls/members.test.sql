-- Aline sees her own group's members and contributions, never Bosco's.
\set ON_ERROR_STOP 1
select tests.act_as('00000000-0000-0000-0000-000000000001');

do $$
begin
    if (select count(*) from app.members) <> 1 then
        raise exception 'Aline should see exactly one member, saw %', (select count(*) from app.members);
    end if;
    if exists (select 1 from app.contributions where amount_cents = 7000) then
        raise exception 'Aline must not see Bosco''s contribution';
    end if;
end
$$;

reset role;
