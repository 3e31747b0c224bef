-- Monthly financials per well, field and basin (grain: level, key, month), all in USD.
-- GL lines (int_gl_well_month: fct_gl_transactions' P&L lines summed per well-month) are matched
-- to production by month: accounting_month (transaction date) = production
-- month (accrual booking, as in the demo GL).
--
--   revenue_booked_usd        GL 4000/4010/4020, credit - debit. Booked NET to the company
--                             (volume x realised price x NRI), per the GL conventions.
--   revenue_calculated_usd    mart_revenue.net_revenue_usd (volumes x price deck x NRI)
--   revenue_variance_usd/_pct booked - calculated; pct of calculated (null when calculated = 0)
--
-- LOE NETTING RULE: net operating cost = gross booked cost - JIB recovery (5900).
-- Operated wells book LOE (5000), workover (5100) and gathering & transport (5300) gross (8/8ths)
-- and bill partners their (1 - WI) share through JIB (Cr 5900, per well); non-operated wells are
-- booked at our WI share already, with no JIB. "gross - 5900" therefore gives our net cost for
-- both, from the ledger itself (gross x WI would double-net the non-op wells). The 5900 recovery
-- of a well-month is split over LOE / workover / G&T pro rata to their gross amounts
-- (loe_net_usd = loe_gross_usd - recovery x loe_gross / (loe + workover + g&t gross)); a
-- recovery without any cost in that well-month reduces LOE. The check
-- jib_recovery_matches_partner_share compares 5900 with gross x (1 - WI) per well-month.
-- Severance tax (5200) is taken as booked: the company's own tax on its net revenue.
-- Capex = 1500 debits net of the 1590 JIB capex recovery (capex_net_usd = gross - recovery).
--
-- G&A (6000) is NOT allocated to wells: lines without a well_id (G&A, corporate costs, JIB
-- journals without a well) are reported under key 'CORPORATE' at the field and basin levels,
-- so well rows do not sum to field totals for those classes; field/basin totals are complete.
--
--   noi_usd                   revenue_booked - loe_net - workover_net - severance - g&t_net
--   net_wi_boe                gross BOE x working_interest (the volumes the net costs pay for)
--   loe_per_boe_usd           loe_net_usd / net_wi_boe
--   netback_per_boe_usd       noi_usd / net_wi_boe  (revenue is after royalties, so this is the
--                             usual "operating netback per working-interest BOE")
--
-- Incremental by month (insert_overwrite): every row of a month comes from that month's rows
-- upstream, so a monthly run rebuilds only the months whose GL, production or revenue changed.
with gl as not materialized (   -- the P&L lines per well-month, USD, signed as fct_gl_transactions.signed_amount_usd
    select * from marts.int_gl_well_month
    where {{ in_changed_months('month') }}   -- a monthly run: the months that changed upstream
),

wells as (
    select well_id, field, basin from staging.stg_well_header
),

revenue as (   -- one row per well and production month: gross volumes (as mart_production_monthly's
              -- well level) and the calculated net revenue
    select
        well_id,
        production_month as month,
        oil_bbl                    as gross_oil_bbl,
        gas_mcf                    as gross_gas_mcf,
        boe                        as gross_boe,
        boe * working_interest     as net_wi_boe,
        net_revenue_usd
    from marts.mart_revenue
    where {{ in_changed_months('production_month') }}
),

fx as (
    select month, reporting_currency, reporting_units_per_usd from marts.int_price_fx_monthly
),

gl_well_month as (   -- one row per well-month; lines without a well are reported under 'CORPORATE'
    select well_id, month,
        revenue_booked_usd,
        loe_gross_usd,
        workover_gross_usd,
        severance_tax_usd,
        gathering_transport_gross_usd,
        g_and_a_usd,
        capex_gross_usd,
        capex_jib_recovery_usd,
        opex_jib_recovery_usd
    from gl
    where well_id <> 'CORPORATE'

    union all

    select 'CORPORATE', month,
        sum(revenue_booked_usd),
        sum(loe_gross_usd),
        sum(workover_gross_usd),
        sum(severance_tax_usd),
        sum(gathering_transport_gross_usd),
        sum(g_and_a_usd),
        sum(capex_gross_usd),
        sum(capex_jib_recovery_usd),
        sum(opex_jib_recovery_usd)
    from gl
    where well_id is null or well_id = 'CORPORATE'
    group by month
),

well_month as (
    select
        coalesce(g.well_id, r.well_id)                                                 as well_id,
        coalesce(g.month, r.month)                                                     as month,
        coalesce(g.revenue_booked_usd, 0)                                              as revenue_booked_usd,
        coalesce(r.net_revenue_usd, 0)                                                 as revenue_calculated_usd,
        coalesce(g.loe_gross_usd, 0)                                                   as loe_gross_usd,
        coalesce(g.workover_gross_usd, 0)                                              as workover_gross_usd,
        coalesce(g.gathering_transport_gross_usd, 0)                                   as gathering_transport_gross_usd,
        coalesce(g.severance_tax_usd, 0)                                               as severance_tax_usd,
        coalesce(g.g_and_a_usd, 0)                                                     as g_and_a_usd,
        coalesce(g.capex_gross_usd, 0)                                                 as capex_gross_usd,
        coalesce(g.capex_jib_recovery_usd, 0)                                          as capex_jib_recovery_usd,
        coalesce(g.opex_jib_recovery_usd, 0)                                           as opex_jib_recovery_usd,
        coalesce(r.gross_oil_bbl, 0)                                                   as gross_oil_bbl,
        coalesce(r.gross_gas_mcf, 0)                                                   as gross_gas_mcf,
        coalesce(r.gross_boe, 0)                                                       as gross_boe,
        coalesce(r.net_wi_boe, 0)                                                      as net_wi_boe
    from gl_well_month as g
    full outer join revenue as r
        on r.well_id = g.well_id
       and r.month = g.month
),

netted as (
    select
        *,
        loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd             as opex_gross_usd,
        -- net of the partners' share: gross - JIB recovery, split pro rata to gross
        loe_gross_usd - opex_jib_recovery_usd * case
            when loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd <> 0
            then loe_gross_usd / (loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd)
            else 1.0 end                                                               as loe_net_usd,
        workover_gross_usd - opex_jib_recovery_usd * case
            when loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd <> 0
            then workover_gross_usd / (loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd)
            else 0.0 end                                                               as workover_net_usd,
        gathering_transport_gross_usd - opex_jib_recovery_usd * case
            when loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd <> 0
            then gathering_transport_gross_usd / (loe_gross_usd + workover_gross_usd + gathering_transport_gross_usd)
            else 0.0 end                                                               as gathering_transport_net_usd
    from well_month
),

attributed as (
    select
        m.*,
        case when m.well_id = 'CORPORATE' then 'CORPORATE' else coalesce(w.field, 'UNKNOWN') end as field,
        case when m.well_id = 'CORPORATE' then 'CORPORATE' else coalesce(w.basin, 'UNKNOWN') end as basin
    from netted as m
    left join wells as w
        on w.well_id = m.well_id
),

by_level as (   -- attributed is one row per (well_id, month) already: the well level needs no grouping
    select 'well' as level, well_id as key, field, basin, month,
        revenue_booked_usd, revenue_calculated_usd,
        loe_gross_usd, loe_net_usd,
        workover_gross_usd, workover_net_usd,
        severance_tax_usd,
        gathering_transport_gross_usd,
        gathering_transport_net_usd,
        g_and_a_usd,
        capex_gross_usd, capex_jib_recovery_usd,
        opex_jib_recovery_usd,
        gross_oil_bbl, gross_gas_mcf,
        gross_boe, net_wi_boe
    from attributed
    where well_id <> 'CORPORATE'

    union all

    select 'field', field, field, any_value(basin), month,
        sum(revenue_booked_usd), sum(revenue_calculated_usd),
        sum(loe_gross_usd), sum(loe_net_usd), sum(workover_gross_usd), sum(workover_net_usd),
        sum(severance_tax_usd), sum(gathering_transport_gross_usd), sum(gathering_transport_net_usd),
        sum(g_and_a_usd), sum(capex_gross_usd), sum(capex_jib_recovery_usd), sum(opex_jib_recovery_usd),
        sum(gross_oil_bbl), sum(gross_gas_mcf), sum(gross_boe), sum(net_wi_boe)
    from attributed
    group by field, month

    union all

    select 'basin', basin, null, basin, month,
        sum(revenue_booked_usd), sum(revenue_calculated_usd),
        sum(loe_gross_usd), sum(loe_net_usd), sum(workover_gross_usd), sum(workover_net_usd),
        sum(severance_tax_usd), sum(gathering_transport_gross_usd), sum(gathering_transport_net_usd),
        sum(g_and_a_usd), sum(capex_gross_usd), sum(capex_jib_recovery_usd), sum(opex_jib_recovery_usd),
        sum(gross_oil_bbl), sum(gross_gas_mcf), sum(gross_boe), sum(net_wi_boe)
    from attributed
    group by basin, month
),

final as (
    select
        b.level,
        b.key,
        b.field,
        b.basin,
        b.month,
        b.revenue_booked_usd,
        b.revenue_calculated_usd,
        b.revenue_booked_usd - b.revenue_calculated_usd                        as revenue_variance_usd,
        case when b.revenue_calculated_usd <> 0
             then 100.0 * (b.revenue_booked_usd - b.revenue_calculated_usd) / b.revenue_calculated_usd
        end                                                                     as revenue_variance_pct,
        b.loe_gross_usd,
        b.loe_net_usd,
        b.workover_gross_usd,
        b.workover_net_usd,
        b.severance_tax_usd,
        b.gathering_transport_gross_usd,
        b.gathering_transport_net_usd,
        b.g_and_a_usd,
        b.opex_jib_recovery_usd,
        b.capex_gross_usd,
        b.capex_jib_recovery_usd,
        b.capex_gross_usd - b.capex_jib_recovery_usd                            as capex_net_usd,
        b.revenue_booked_usd - b.loe_net_usd - b.workover_net_usd
            - b.severance_tax_usd - b.gathering_transport_net_usd               as noi_usd,
        b.gross_oil_bbl,
        b.gross_gas_mcf,
        b.gross_boe,
        b.net_wi_boe,
        b.loe_net_usd / nullif(b.net_wi_boe, 0)                                 as loe_per_boe_usd,
        (b.revenue_booked_usd - b.loe_net_usd - b.workover_net_usd
            - b.severance_tax_usd - b.gathering_transport_net_usd)
            / nullif(b.net_wi_boe, 0)                                           as netback_per_boe_usd,
        fx.reporting_currency,
        fx.reporting_units_per_usd,
        b.revenue_booked_usd * fx.reporting_units_per_usd                       as revenue_booked_reporting,
        (b.revenue_booked_usd - b.loe_net_usd - b.workover_net_usd
            - b.severance_tax_usd - b.gathering_transport_net_usd)
            * fx.reporting_units_per_usd                                        as noi_reporting
    from by_level as b
    left join fx
        on fx.month = b.month
)

select * from final
