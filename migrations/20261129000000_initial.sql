-- The store's identity and the first clinician accounts.
CREATE TABLE store_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    store_id    TEXT NOT NULL,          -- random, identifies this store in audit and sync
    created_at  TEXT NOT NULL           -- RFC 3339, UTC
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    passphrase_hash TEXT NOT NULL,      -- Argon2id PHC string; never the passphrase
    created_at      TEXT NOT NULL,
    disabled_at     TEXT
);
