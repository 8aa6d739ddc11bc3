-- Failed sign-ins per typed name, kept in the store so that restarting the
-- app does not reset the count (see crates/core/src/session.rs).
CREATE TABLE sign_in_throttle (
    name            TEXT PRIMARY KEY COLLATE NOCASE,
    failures        INTEGER NOT NULL,
    window_start    INTEGER NOT NULL,   -- Unix seconds of the first failure counted
    locked_until    INTEGER             -- Unix seconds; NULL when not cooling off
);
