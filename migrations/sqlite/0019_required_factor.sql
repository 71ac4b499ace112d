-- Which second factors satisfy a workspace's enforcement and the instance policy (SPEC §13):
-- `any` (an authenticator app or a WebAuthn credential) or `phishing_resistant` (WebAuthn
-- only).
ALTER TABLE workspaces ADD COLUMN required_factor TEXT NOT NULL DEFAULT 'any';
ALTER TABLE instance_policy ADD COLUMN required_factor TEXT NOT NULL DEFAULT 'any';
