-- GL journal lines classified for reporting (grain: journal_id, line_number).
-- account_class from the chart of accounts (vocabulary account_class in sql/catalog/vocabularies.yml,
-- macro account_class): 4000/4010/4020 revenue, 5000 loe, 5100 workover, 5200 severance_tax,
--   5300 gathering_transport, 6000 g_and_a, 1500 capex, 5900/1590 jib_recovery,
--   everything else balance_sheet (cash, receivables, payables, ...).
-- net_amount   = debit - credit (line currency)
-- signed_amount = the amount in the account's natural direction, line currency:
--   credit - debit for revenue and jib_recovery (contra accounts) and liabilities,
--   debit - credit for expenses, capex and assets.
-- *_usd = line amount / units_per_usd of the line's currency for its month (USD = 1;
-- a month without a rate uses the latest earlier one).
-- Fiscal year = calendar year; fiscal_period = calendar month; fiscal_month = 'YYYY-MM'.
with lines as (
    select * from staging.stg_gl_lines
),

fx as (
    select rate_month, currency, units_per_usd from staging.stg_fx
),

last_line_month as (
    select max(accounting_month) as last_month from lines
),

fx_monthly as (   -- one row per currency and month: the latest rate at or before that month,
                  -- expanded so the 18 M-line join is an equality hash join (an asof join was 6x slower)
    select
        r.currency,
        cast(unnest(generate_series(
            r.rate_month,
            coalesce(r.next_rate_month - interval 1 month, greatest(r.rate_month, s.last_month)),
            interval 1 month)) as date)                         as rate_month,
        r.units_per_usd
    from (
        select *, lead(rate_month) over (partition by currency order by rate_month) as next_rate_month
        from fx
    ) as r
    cross join last_line_month as s
),

classified as (
    select
        l.*,
        {{ account_class('l.account_code') }} as account_class,
        case
            when l.account_code like '1%' and l.account_code <> '1590' then 'asset'
            when l.account_code = '1590' then 'contra_asset'
            when l.account_code like '2%' or l.account_code like '3%' then 'liability_equity'
            when l.account_code like '4%' then 'revenue'
            when l.account_code = '5900' then 'contra_expense'
            when l.account_code like '5%' or l.account_code like '6%' then 'expense'
            else 'other'
        end as account_type
    from lines as l
),

converted as (
    select
        c.*,
        case when c.currency = 'USD' then 1.0 else fx.units_per_usd end as units_per_usd
    from classified as c
    left join fx_monthly as fx
        on fx.currency = c.currency
       and fx.rate_month = c.accounting_month
),

final as (
    select
        journal_id,
        line_number,
        transaction_date,
        accounting_month,
        fiscal_year,
        fiscal_period,
        strftime(accounting_month, '%Y-%m')                     as fiscal_month,
        account_code,
        account_name,
        account_class,
        account_type,
        description,
        well_id,
        afe_number,
        partner_id,
        currency,
        debit_amount,
        credit_amount,
        debit_amount - credit_amount                            as net_amount,
        case when account_type in ('revenue', 'contra_expense', 'contra_asset', 'liability_equity')
             then credit_amount - debit_amount
             else debit_amount - credit_amount
        end                                                     as signed_amount,
        units_per_usd,
        cast(debit_amount as double) / units_per_usd            as debit_amount_usd,
        cast(credit_amount as double) / units_per_usd           as credit_amount_usd,
        cast(debit_amount - credit_amount as double) / units_per_usd as net_amount_usd,
        cast(case when account_type in ('revenue', 'contra_expense', 'contra_asset', 'liability_equity')
                  then credit_amount - debit_amount
                  else debit_amount - credit_amount
             end as double) / units_per_usd                     as signed_amount_usd,
        _source_file,
        _source_row,
        _batch_id
    from converted
)

select * from final
