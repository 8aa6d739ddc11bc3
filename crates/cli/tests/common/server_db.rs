//! What the approved server's database holds, read directly (also used by
//! the windowed crash test in `tests/e2e`, which includes this file by
//! path).

use std::path::Path;

/// Referrals the server's database holds, by state.
pub fn server_referrals(server_data: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        server_data.join("server.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("server db");
    let mut stmt = conn
        .prepare("SELECT id, state FROM referrals ORDER BY id")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}
