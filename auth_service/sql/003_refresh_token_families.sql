-- Every refresh token belongs to a family: the login it descends from. A refresh passes the family on to the new
-- token; presenting a token that was already spent means a copy of it is in two hands, so every token of its family
-- is revoked (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14.2). Access tokens carry the family (claim `fam`) and
-- the gateways refuse those of a revoked family. Each token issued before this migration is a family of its own.
ALTER TABLE refresh_tokens ADD COLUMN family_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE refresh_tokens ALTER COLUMN family_id DROP DEFAULT;
ALTER TABLE refresh_tokens ADD COLUMN revoked_at timestamptz;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
-- auth_service tells the gateways at its start which families were revoked while their access tokens may live.
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
