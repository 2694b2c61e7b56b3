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
