-- severity: error
-- model: staging.stg_gl_lines
-- description: every GL journal balances: sum(debit) = sum(credit), per journal and currency
select
    journal_id,
    currency,
    sum(debit_amount)                       as total_debit,
    sum(credit_amount)                      as total_credit,
    sum(debit_amount) - sum(credit_amount)  as imbalance,
    count(*)                                as lines
from staging.stg_gl_lines
group by journal_id, currency
having sum(debit_amount) <> sum(credit_amount)
