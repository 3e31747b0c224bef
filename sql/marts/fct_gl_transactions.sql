-- GL journal lines classified for reporting (grain: journal_id, line_number).
-- account_class from the chart of accounts (vocabulary account_class in sql/catalog/vocabularies.yml,
-- macro account_class): 4000/4010/4020 revenue, 5000 loe, 5100 workover, 5200 severance_tax,
--   5300 gathering_transport, 6000 g_and_a, 1500 capex, 5900/1590 jib_recovery,
--   everything else balance_sheet (cash, receivables, payables, ...).
-- net_amount   = debit - credit (line currency)
-- signed_amount = the amount in the account's natural direction, line currency:
--   credit - debit for revenue and jib_recovery (contra accounts) and liabilities,
--   debit - credit for expenses, capex and assets.
-- *_usd = line amount / units_per_usd of the line's currency for its month (int_fx_rates_monthly;
-- USD = 1; a month without a rate uses the latest earlier one).
-- Fiscal year = calendar year; fiscal_period = calendar month; fiscal_month = 'YYYY-MM'.
with lines as (
    select * from staging.stg_gl_lines
),

classified as (
    select
        l.*,
        {{ account_class('l.account_code') }} as account_class,
        {{ account_type('l.account_code') }} as account_type
    from lines as l
),

converted as (   -- the line currency's rate for the line's month (macro with_usd_rate)
    {{ with_usd_rate('classified', 'accounting_month') }}
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
        {{ signed_amount('account_type', 'debit_amount', 'credit_amount') }} as signed_amount,
        units_per_usd,
        cast(debit_amount as double) / units_per_usd            as debit_amount_usd,
        cast(credit_amount as double) / units_per_usd           as credit_amount_usd,
        cast(debit_amount - credit_amount as double) / units_per_usd as net_amount_usd,
        cast({{ signed_amount('account_type', 'debit_amount', 'credit_amount') }} as double)
            / units_per_usd                                     as signed_amount_usd,
        _source_file,
        _source_row,
        _batch_id
    from converted
)

select * from final
