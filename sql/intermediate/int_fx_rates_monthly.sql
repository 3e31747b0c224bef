-- The rate that converts a GL line's currency to USD, per currency and month: the latest published
-- rate at or before the month (stg_fx), carried forward through the last GL month. USD itself has no
-- row (rate 1 by definition). One row per month so that the GL joins on equality (a hash join; an asof
-- join over 18 M lines was 6x slower).
with fx as (
    select rate_month, currency, units_per_usd from staging.stg_fx
),

last_line_month as (
    select max(accounting_month) as last_month from staging.stg_gl_lines
),

rates as (
    select *, lead(rate_month) over (partition by currency order by rate_month) as next_rate_month
    from fx
),

final as (
    select
        r.currency,
        cast(unnest(generate_series(
            r.rate_month,
            coalesce(r.next_rate_month - interval 1 month, greatest(r.rate_month, s.last_month)),
            interval 1 month)) as date)                         as rate_month,
        r.units_per_usd
    from rates as r
    cross join last_line_month as s
)

select * from final
