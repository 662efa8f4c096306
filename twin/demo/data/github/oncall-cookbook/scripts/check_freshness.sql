-- check_freshness.sql
-- Lists every table that is older than its agreed freshness target,
-- including tables that have never loaded at all. Postgres syntax.
--
-- Expects:
--   ops.freshness_expectations(table_name text, max_age_minutes int, owner text, paused bool)
--   ops.table_load_log(table_name text, loaded_at timestamptz, rows_written bigint)

WITH last_load AS (
    SELECT table_name,
           MAX(loaded_at)                                        AS last_loaded_at,
           (ARRAY_AGG(rows_written ORDER BY loaded_at DESC))[1]  AS last_rows_written
    FROM ops.table_load_log
    GROUP BY table_name
)
SELECT
    e.table_name,
    e.owner,
    e.max_age_minutes,
    l.last_loaded_at,
    ROUND(EXTRACT(EPOCH FROM (now() - l.last_loaded_at)) / 60)   AS age_minutes,
    l.last_rows_written,
    CASE
        WHEN l.last_loaded_at IS NULL          THEN 'never loaded'
        WHEN l.last_rows_written = 0           THEN 'stale (last load wrote 0 rows)'
        ELSE 'stale'
    END                                                          AS status
FROM ops.freshness_expectations AS e
LEFT JOIN last_load AS l USING (table_name)
WHERE NOT e.paused
  AND (
        l.last_loaded_at IS NULL
     OR now() - l.last_loaded_at > e.max_age_minutes * INTERVAL '1 minute'
  )
ORDER BY l.last_loaded_at IS NOT NULL, age_minutes DESC NULLS FIRST;
