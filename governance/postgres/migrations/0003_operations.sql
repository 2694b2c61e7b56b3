-- SubmitTransaction's operations: at most one per authorization. The state
-- moves by compare-and-set (UPDATE ... WHERE state = the expected one), so
-- that of several replicas only one hands a transaction to its vendor.
CREATE TABLE operations (
  org_id           text        NOT NULL,
  operation_id     text        NOT NULL,  -- op_<authorization id>
  authorization_id text        NOT NULL,
  agent_id         text        NOT NULL,
  wallet_id        text        NOT NULL,
  data             bytea       NOT NULL,  -- calldata, empty for a transfer
  state            text        NOT NULL,  -- PENDING, SENDING, ... FAILED
  tx_hash          text        NOT NULL,
  vendor_ref       text        NOT NULL,
  error            text        NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (org_id, operation_id)
);
-- The tracker's scan: operations still open, least recently updated first.
CREATE INDEX operations_open ON operations (updated_at)
  WHERE state NOT IN ('CONFIRMED', 'FAILED');

GRANT SELECT, INSERT ON operations TO warden_app;
GRANT UPDATE (state, tx_hash, vendor_ref, error, updated_at)
  ON operations TO warden_app;
