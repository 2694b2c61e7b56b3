-- Wallets Warden froze at their vendors, with what unfreezing must put back
-- where the vendor cannot keep it (MetaMask's earlier policy and trading
-- mode), so that an unfreeze after any restart restores the exact state.
CREATE TABLE vendor_frozen_wallets (
  org_id     text        NOT NULL,
  wallet_id  text        NOT NULL,
  vendor     text        NOT NULL,
  restore    text        NOT NULL,
  frozen_at  timestamptz NOT NULL,
  PRIMARY KEY (org_id, wallet_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON vendor_frozen_wallets TO warden_app;
