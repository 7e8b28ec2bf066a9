-- The signer's keys (DESIGN.md: signer). A private key is stored only as an
-- OpenPGP secret-key block protected with the signer's passphrase (RFC 4880
-- §3.7.2.1 iterated and salted S2K, AES-256), so this table never holds key
-- material in the clear; it is null once the key is retired.
create table signing_keys (
  id bigint generated always as identity primary key,
  fingerprint text not null unique check (fingerprint ~ '^[0-9A-F]{40}$'),
  algorithm text not null,
  user_id text not null,
  public_key text not null,
  private_key text,
  -- The key's own creation time (the one inside the key), not the row's.
  created_at timestamptz not null,
  retired_at timestamptz,
  check ((retired_at is null) = (private_key is not null))
);
