-- Every change to a token's row (a revocation by Warden, or an UPDATE or
-- DELETE by hand) is announced on the channel warden_tokens with the token
-- id, and a TRUNCATE with "*", so that each replica drops that token (or
-- every token) from its cache at once.
CREATE FUNCTION warden_token_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('warden_tokens', '*');
    RETURN NULL;
  END IF;
  PERFORM pg_notify('warden_tokens', OLD.token_id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_tokens_changed AFTER UPDATE OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION warden_token_changed();
CREATE TRIGGER api_tokens_truncated AFTER TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION warden_token_changed();
