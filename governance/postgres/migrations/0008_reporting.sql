-- Reporting views for BI tools (Grafana, Metabase, a spreadsheet): typed
-- columns read from the audit trail, USD as exact numeric dollars (never
-- floating point), days in the org's time zone; and warden_reporting, a
-- role that may read these views and nothing else (docs/reporting.md).
-- The views run with their owner's rights, so the role needs no grant on
-- the trail itself, and none of them can be written through.
CREATE SCHEMA reporting;

-- Each org's time zone, from its latest bundle.
CREATE VIEW reporting.org_zones AS
SELECT DISTINCT ON (org_id) org_id, timezone
FROM orgs
ORDER BY org_id, version DESC;

-- Each authorization as its latest event leaves it: what it asked, what it
-- charges now (settled, held, or expired and still counted) and how it
-- ended. The same rows SpendSummary sums.
CREATE VIEW reporting.authorizations AS
SELECT DISTINCT ON (org_id, authorization_id)
  org_id,
  authorization_id,
  created_at,
  department_id,
  agent_id,
  wallet_id,
  chain,
  asset,
  decision,
  status,
  amount_usd::numeric / 1000000 AS amount_usd,
  charged_usd::numeric / 1000000 AS charged_usd,
  body::jsonb -> 'authorization' ->> 'destination' AS destination,
  nullif(body::jsonb -> 'authorization' ->> 'tx_hash', '') AS tx_hash,
  time AS updated_at
FROM audit_events
WHERE authorization_id IS NOT NULL
ORDER BY org_id, authorization_id, seq DESC;

-- Spend per day of the org's zone, department, agent, wallet, chain and
-- asset, by the authorizations' creation day.
CREATE VIEW reporting.spend_daily AS
SELECT
  a.org_id,
  (a.created_at AT TIME ZONE coalesce(z.timezone, 'UTC'))::date AS day,
  a.department_id,
  a.agent_id,
  a.wallet_id,
  a.chain,
  a.asset,
  coalesce(sum(a.charged_usd) FILTER (WHERE a.status = 'SETTLED'), 0)
    AS settled_usd,
  coalesce(sum(a.charged_usd) FILTER (WHERE a.status <> 'SETTLED'), 0)
    AS held_usd,
  sum(a.charged_usd) AS total_usd,
  count(*) AS spends
FROM reporting.authorizations a
LEFT JOIN reporting.org_zones z USING (org_id)
WHERE a.charged_usd > 0
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- Every decision as it was made (allow, deny, pending approval, delayed),
-- with the reason and the limits it hit.
CREATE VIEW reporting.decisions AS
SELECT
  org_id,
  seq,
  time,
  authorization_id,
  department_id,
  agent_id,
  wallet_id,
  chain,
  asset,
  decision,
  amount_usd::numeric / 1000000 AS amount_usd,
  body::jsonb -> 'authorization' ->> 'destination' AS destination,
  body::jsonb -> 'authorization' ->> 'reason' AS reason,
  body::jsonb -> 'authorization' -> 'violations' AS violations,
  policy_version
FROM audit_events
WHERE type = 'authorization.decided';

-- Every event, without the chained body and hashes: approvals, freezes,
-- bundle changes, refused calls, token changes.
CREATE VIEW reporting.events AS
SELECT org_id, seq, time, type, actor, authorization_id, department_id,
       agent_id, wallet_id, decision, status
FROM audit_events;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warden_reporting') THEN
    CREATE ROLE warden_reporting LOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA reporting TO warden_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO warden_reporting;

-- Reading must be all a BI login can do to this database. Every role may
-- by default take advisory locks (wardend's bundle applies and migrations
-- wait on them), create large objects and temporary tables: in this
-- database, locks are wardend's and the database owner's (who migrates)
-- only, and large objects and temporary tables nobody's but wardend's. Revoking a
-- built-in function's grant needs a superuser: where the migration runs
-- without one (a managed Postgres), it says so, and docs/reporting.md says
-- to point BI tools at a read replica, whose locks and writes cannot reach
-- the primary.
DO $$
DECLARE
  f text;
  owner text := (SELECT pg_get_userbyid(datdba) FROM pg_database
                 WHERE datname = current_database());
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC',
                 current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO warden_app',
                 current_database());
  FOR f IN
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace
      AND (p.proname LIKE 'pg\_advisory\_%' OR p.proname LIKE 'pg\_try\_advisory\_%'
           OR p.proname IN ('lo_create', 'lo_creat', 'lo_from_bytea',
                            'lo_import', 'lo_open', 'lo_put', 'lowrite',
                            'lo_truncate', 'lo_truncate64', 'lo_unlink'))
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    IF f LIKE 'pg\_%' THEN
      -- wardend's locks, and the database owner's (migrations, retention).
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO warden_app, %I', f,
                     owner);
    END IF;
  END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'reporting: not a superuser, so warden_reporting may still '
    'take advisory locks, create large objects and temporary tables: '
    'point BI tools at a read replica (docs/reporting.md)';
END $$;

-- A BI query that runs away is stopped, and so is a session left open.
ALTER ROLE warden_reporting CONNECTION LIMIT 20;
ALTER ROLE warden_reporting SET statement_timeout = '60s';
ALTER ROLE warden_reporting SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE warden_reporting SET idle_session_timeout = '10min';
