-- GL journal lines: one row per (journal_id, line_number) from the latest loaded file version.
-- Amounts in the line's currency (default USD); null debit/credit = 0.
-- Fiscal year = calendar year; fiscal period = calendar month (1..12).
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.gl_records', key=["trim(journal_id)", "line_number"]) }}
),

final as (
    select
        trim(journal_id)                                           as journal_id,
        cast(line_number as integer)                               as line_number,
        cast(transaction_date as date)                             as transaction_date,
        cast(date_trunc('month', transaction_date) as date)        as accounting_month,
        cast(extract('year' from transaction_date) as integer)     as fiscal_year,
        cast(extract('month' from transaction_date) as integer)    as fiscal_period,
        trim(account_code)                                         as account_code,
        nullif(trim(account_name), '')                             as account_name,
        nullif(trim(description), '')                              as description,
        nullif(trim(well_id), '')                                  as well_id,
        nullif(trim(afe_number), '')                               as afe_number,
        nullif(trim(partner_id), '')                               as partner_id,
        cast(coalesce(debit_amount, 0) as decimal(18, 2))          as debit_amount,
        cast(coalesce(credit_amount, 0) as decimal(18, 2))         as credit_amount,
        coalesce(nullif(upper(trim(currency)), ''), 'USD')         as currency,
        {{ lineage_columns() }}
    from deduplicated
)

select * from final
