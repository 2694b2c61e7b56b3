-- Warden schema, version 1.
--
-- Configuration: every applied policy bundle is a new version, kept; the
-- active version of an org is its highest. The normalized tables hold the
-- same bundle as rows for queries and joins.
CREATE TABLE bundles (
  org_id      text        NOT NULL,
  version     bigint      NOT NULL,
  yaml        text        NOT NULL,
  applied_at  timestamptz NOT NULL,
  applied_by  text        NOT NULL,
  PRIMARY KEY (org_id, version)
);

CREATE TABLE orgs (
  org_id        text   NOT NULL,
  version       bigint NOT NULL,
  timezone      text   NOT NULL,
  expired_holds text   NOT NULL,
  hold_ttl_s    bigint NOT NULL,
  PRIMARY KEY (org_id, version),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

CREATE TABLE departments (
  org_id        text   NOT NULL,
  version       bigint NOT NULL,
  department_id text   NOT NULL,
  PRIMARY KEY (org_id, version, department_id),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

CREATE TABLE agents (
  org_id        text   NOT NULL,
  version       bigint NOT NULL,
  agent_id      text   NOT NULL,
  department_id text   NOT NULL,
  rules         jsonb  NOT NULL,
  PRIMARY KEY (org_id, version, agent_id),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

CREATE TABLE wallets (
  org_id    text   NOT NULL,
  version   bigint NOT NULL,
  wallet_id text   NOT NULL,
  agent_id  text   NOT NULL,
  vendor    text   NOT NULL,
  chain     text   NOT NULL,
  address   text   NOT NULL,
  PRIMARY KEY (org_id, version, wallet_id),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

CREATE TABLE limits (
  org_id     text   NOT NULL,
  version    bigint NOT NULL,
  scope      text   NOT NULL,  -- org/<id>, department/<id>, agent/<id>
  name       text   NOT NULL,
  usd_micros bigint,
  count      bigint,
  "window"   text   NOT NULL,
  PRIMARY KEY (org_id, version, scope, name),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

CREATE TABLE assets (
  org_id    text    NOT NULL,
  version   bigint  NOT NULL,
  symbol    text    NOT NULL,
  decimals  integer NOT NULL,
  price_usd numeric,  -- exact decimal, never floating point
  PRIMARY KEY (org_id, version, symbol),
  FOREIGN KEY (org_id, version) REFERENCES bundles
);

-- Frozen scopes: the durable source of truth for the kill switch.
CREATE TABLE frozen_scopes (
  org_id         text        NOT NULL,
  scope          text        NOT NULL,  -- org/<id>, department/<id>, ...
  frozen_at      timestamptz NOT NULL,
  actor          text        NOT NULL,
  reason         text        NOT NULL,
  decommissioned boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (org_id, scope)
);

-- The audit trail: append-only, hash-chained per org, partitioned by month
-- of `time`. `body` is the canonical encoding (EncodeAuditEvent) that the
-- hash covers: hash = SHA-256(prev_hash || body), hex.
CREATE TABLE audit_events (
  org_id           text        NOT NULL,
  seq              bigint      NOT NULL,  -- 1, 2, ... per org
  time             timestamptz NOT NULL,
  type             text        NOT NULL,
  actor            text        NOT NULL,
  gateway          text        NOT NULL,
  authorization_id text,
  department_id    text,
  agent_id         text,
  wallet_id        text,
  chain            text,
  asset            text,
  decision         text,
  status           text,
  created_at       timestamptz,  -- the authorization's
  amount_usd       bigint,       -- micros held or asked for
  charged_usd      bigint,       -- micros it charges after this event
  policy_version   bigint,
  body             text        NOT NULL,
  prev_hash        text        NOT NULL,
  hash             text        NOT NULL,
  PRIMARY KEY (org_id, seq, time)
) PARTITION BY RANGE (time);

-- QueryEvents pages in seq order, optionally by agent, department or
-- wallet; SpendSummary scans by the authorization's creation time.
CREATE INDEX audit_events_org_time ON audit_events (org_id, time);
CREATE INDEX audit_events_org_agent_seq ON audit_events (org_id, agent_id, seq);
CREATE INDEX audit_events_org_dept_seq ON audit_events (org_id, department_id, seq);
CREATE INDEX audit_events_org_wallet_seq ON audit_events (org_id, wallet_id, seq);
CREATE INDEX audit_events_authorization ON audit_events (org_id, authorization_id, seq);
CREATE INDEX audit_events_org_created ON audit_events (org_id, created_at)
  WHERE authorization_id IS NOT NULL;

-- A catch-all partition so no write ever fails for want of one; monthly
-- partitions are created ahead by the gateway (and by migrate).
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- The head of each org's chain, locked once per batch by the writer.
CREATE TABLE audit_heads (
  org_id text   PRIMARY KEY,
  seq    bigint NOT NULL,
  hash   text   NOT NULL
);

-- Signed checkpoints of chain heads (Ed25519 over "org_id\nseq\nhash").
CREATE TABLE audit_checkpoints (
  org_id     text        NOT NULL,
  seq        bigint      NOT NULL,
  hash       text        NOT NULL,
  public_key text        NOT NULL,  -- hex, raw 32 bytes
  signature  text        NOT NULL,  -- hex, 64 bytes
  created_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, seq)
);

-- Retention: a monthly partition is exported (one file per org) before
-- it may be dropped; the last dropped record of each org anchors its
-- chain, so verification starts from there.
CREATE TABLE audit_exports (
  partition_name text        NOT NULL,
  org_id         text        NOT NULL,
  exported_at    timestamptz NOT NULL,
  path           text        NOT NULL,
  sha256         text        NOT NULL,
  rows           bigint      NOT NULL,
  PRIMARY KEY (partition_name, org_id)
);
CREATE TABLE audit_anchors (
  org_id         text        PRIMARY KEY,
  seq            bigint      NOT NULL,
  hash           text        NOT NULL,
  partition_name text        NOT NULL,
  dropped_at     timestamptz NOT NULL
);

-- Append-only, for every role: UPDATE, DELETE and TRUNCATE are refused.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
END $$;

CREATE TRIGGER audit_events_append_only
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only
  BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

-- The application role: INSERT and SELECT on the trail, nothing more.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warden_app') THEN
    CREATE ROLE warden_app LOGIN;
  END IF;
END $$;
GRANT SELECT, INSERT ON bundles, orgs, departments, agents, wallets, limits,
  assets, audit_events, audit_checkpoints, audit_exports, audit_anchors
  TO warden_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO warden_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON frozen_scopes TO warden_app;
GRANT SELECT ON schema_migrations TO warden_app;
