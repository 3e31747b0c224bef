-- severity: error
-- model: marts.mart_production_monthly
-- description: oil/gas/water totals agree between raw (current files, latest row per well-month), staging and the well, field and basin levels of the production mart
with raw_current as (
    select
        trim(p.well_id)                             as well_id,
        date_trunc('month', p.production_month)     as production_month,
        arg_max(coalesce(p.oil_bbl, 0),   (p._ingested_at, p._file_id, p._source_row)) as oil_bbl,
        arg_max(coalesce(p.gas_mcf, 0),   (p._ingested_at, p._file_id, p._source_row)) as gas_mcf,
        arg_max(coalesce(p.water_bbl, 0), (p._ingested_at, p._file_id, p._source_row)) as water_bbl
    from raw.well_production as p
    where p._file_id in (select file_id from metadata.ingested_files where status = 'loaded')
    group by 1, 2
),

totals as (
    select 'raw' as layer, sum(oil_bbl) as oil_bbl, sum(gas_mcf) as gas_mcf, sum(water_bbl) as water_bbl
    from raw_current
    union all
    select 'staging', sum(oil_bbl), sum(gas_mcf), sum(water_bbl) from staging.stg_production
    union all
    select 'mart_' || level, sum(gross_oil_bbl), sum(gross_gas_mcf), sum(gross_water_bbl)
    from marts.mart_production_monthly
    group by level
),

reference as (
    select * from totals where layer = 'raw'
)

select
    t.layer,
    t.oil_bbl,   r.oil_bbl   as raw_oil_bbl,
    t.gas_mcf,   r.gas_mcf   as raw_gas_mcf,
    t.water_bbl, r.water_bbl as raw_water_bbl
from totals as t
cross join reference as r
where t.layer <> 'raw'
  and (
       abs(coalesce(t.oil_bbl, 0)   - coalesce(r.oil_bbl, 0))   > 1e-6 * greatest(1, abs(coalesce(r.oil_bbl, 0)))
    or abs(coalesce(t.gas_mcf, 0)   - coalesce(r.gas_mcf, 0))   > 1e-6 * greatest(1, abs(coalesce(r.gas_mcf, 0)))
    or abs(coalesce(t.water_bbl, 0) - coalesce(r.water_bbl, 0)) > 1e-6 * greatest(1, abs(coalesce(r.water_bbl, 0)))
  )
