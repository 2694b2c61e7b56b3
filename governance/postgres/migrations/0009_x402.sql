-- x402 payments (PayX402) are operations that Warden signs rather than
-- sends: their terms (the token's EIP-712 domain name and version, the
-- chain id, how long the signature stays valid), as a JSON object; empty
-- for a SubmitTransaction.
ALTER TABLE operations ADD COLUMN x402 text NOT NULL DEFAULT '';
