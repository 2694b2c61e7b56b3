-- API tokens: only the SHA-256 of each token is kept; the token itself is
-- shown once, when it is created.
CREATE TABLE api_tokens (
  token_id      text        PRIMARY KEY,  -- tok_<16 hex>, public
  org_id        text        NOT NULL,
  principal     text        NOT NULL,     -- agent/<id> or user/<id>
  roles         text[]      NOT NULL,
  secret_sha256 text        NOT NULL,     -- hex SHA-256 of the whole token
  created_at    timestamptz NOT NULL,
  created_by    text        NOT NULL,
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at);

-- The gateway reads and creates tokens and marks them revoked; it never
-- deletes one, so the record of who held access stays.
GRANT SELECT, INSERT ON api_tokens TO warden_app;
GRANT UPDATE (revoked_at) ON api_tokens TO warden_app;
