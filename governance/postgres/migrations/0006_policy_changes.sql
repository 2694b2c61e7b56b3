-- Four-eyes policy changes (org.policy_changes): a bundle that loosens the
-- policy in force waits here for its approvers. The change is kept as JSON
-- (governance/policy_change.h) and moves by compare-and-set on `revision`,
-- so that two approvers on two replicas never lose each other's vote.
CREATE TABLE policy_changes (
  org_id       text        NOT NULL,
  change_id    text        NOT NULL,  -- pc_...
  revision     bigint      NOT NULL,
  state        text        NOT NULL,  -- pending, applied, rejected, ...
  requested_at timestamptz NOT NULL,
  body         text        NOT NULL,
  PRIMARY KEY (org_id, change_id)
);
CREATE INDEX policy_changes_org_requested
  ON policy_changes (org_id, requested_at DESC);

GRANT SELECT, INSERT ON policy_changes TO warden_app;
GRANT UPDATE (revision, state, body) ON policy_changes TO warden_app;
