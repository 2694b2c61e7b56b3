-- When each API token was last used to authenticate, for the security
-- report's unused tokens. Each replica writes what it saw about once a
-- minute; kept apart from api_tokens, whose every change NOTIFYs the token
-- caches (migration 0005), so that recording a use drops no cache.
CREATE TABLE api_token_uses (
  token_id     text        PRIMARY KEY,
  last_used_at timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON api_token_uses TO warden_app;
