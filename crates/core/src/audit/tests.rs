//! The chain on good and tampered stores.

use super::*;
use crate::test_support::{actor, open_store};

fn entries(store: &mut Store, n: usize) {
    let who = actor(store, "Nurse Jackie");
    for i in 0..n {
        record(
            store,
            &NewEntry {
                actor: who.audit(),
                action: AuditAction::View,
                patient_id: Some(i as i64 + 1),
                media_id: None,
                details: serde_json::json!({"n": i}),
            },
        )
        .expect("append");
    }
}

fn raw(store: &Store, sql: &str) {
    store.conn().execute_batch(sql).expect(sql);
}

fn drop_triggers(store: &Store) {
    raw(
        store,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
    );
}

fn chain_problems(report: &VerifyReport) -> Vec<(Option<i64>, ProblemKind)> {
    report
        .problems
        .iter()
        .filter(|p| p.kind != ProblemKind::TriggersMissing)
        .map(|p| (p.seq, p.kind))
        .collect()
}

#[test]
fn an_untouched_trail_verifies() {
    let (_dir, mut store) = open_store();
    let empty = verify(&store).expect("verify");
    assert!(empty.is_intact(), "{:?}", empty.problems);
    assert_eq!(empty.entries, 0);
    entries(&mut store, 5);
    let report = verify(&store).expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.entries, 5);
    assert_eq!(report.last_seq, Some(5));
    let newest = recent(&store, 2).expect("recent");
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].seq, 5);
    assert_eq!(newest[0].prev_hash, newest[1].hash);
    assert_eq!(newest[0].action, "view");
}

#[test]
fn ordinary_sql_cannot_change_or_delete_entries() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 2);
    let e = store
        .conn()
        .execute("UPDATE audit_log SET details = '{}' WHERE seq = 1", [])
        .expect_err("trigger");
    assert!(e.to_string().contains("cannot be changed"), "{e}");
    let e = store
        .conn()
        .execute("DELETE FROM audit_log WHERE seq = 1", [])
        .expect_err("trigger");
    assert!(e.to_string().contains("cannot be deleted"), "{e}");
    assert!(verify(&store).expect("verify").is_intact());
}

#[test]
fn an_edited_entry_is_named() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 5);
    drop_triggers(&store);
    raw(
        &store,
        "UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3",
    );
    let report = verify(&store).expect("verify");
    assert_eq!(
        chain_problems(&report),
        [(Some(3), ProblemKind::HashMismatch)]
    );
    assert!(report.problems[0]
        .message
        .contains("hash mismatch at seq 3"));
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::TriggersMissing));
}

#[test]
fn an_edited_entry_with_a_recomputed_hash_breaks_the_next_link() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 4);
    drop_triggers(&store);
    // Rewrite entry 2 and give it a correct hash for its new contents.
    let fields: Vec<Value> = store
        .conn()
        .query_row(
            "SELECT seq, at, actor_id, actor_name, 'sign_out', patient_id, media_id, details, \
             prev_hash FROM audit_log WHERE seq = 2",
            [],
            |r| (0..9).map(|i| r.get(i)).collect(),
        )
        .expect("row");
    let forged = entry_hash(&fields);
    store
        .conn()
        .execute(
            "UPDATE audit_log SET action = 'sign_out', hash = ?1 WHERE seq = 2",
            [&forged],
        )
        .expect("forge");
    let report = verify(&store).expect("verify");
    assert_eq!(
        chain_problems(&report),
        [(Some(3), ProblemKind::ChainBreak)]
    );
}

#[test]
fn a_deleted_entry_is_a_gap() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 5);
    drop_triggers(&store);
    raw(&store, "DELETE FROM audit_log WHERE seq = 3");
    let report = verify(&store).expect("verify");
    assert_eq!(chain_problems(&report), [(Some(2), ProblemKind::Gap)]);
    assert!(report.problems[0]
        .message
        .contains("gap after seq 2: entry 3 is missing"));
}

#[test]
fn swapped_entries_break_the_chain() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 5);
    drop_triggers(&store);
    raw(
        &store,
        "UPDATE audit_log SET seq = -1 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    let report = verify(&store).expect("verify");
    assert_eq!(
        chain_problems(&report),
        [
            (Some(3), ProblemKind::ChainBreak),
            (Some(4), ProblemKind::ChainBreak),
            (Some(5), ProblemKind::ChainBreak),
        ]
    );
}

#[test]
fn entries_removed_from_the_end_are_found() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 5);
    drop_triggers(&store);
    raw(&store, "DELETE FROM audit_log WHERE seq >= 4");
    let report = verify(&store).expect("verify");
    assert_eq!(chain_problems(&report), [(Some(3), ProblemKind::Truncated)]);
    assert!(report.problems[0]
        .message
        .contains("newest entry written was seq 5"));
}

#[test]
fn an_entry_appended_in_a_rolled_back_transaction_leaves_nothing() {
    let (_dir, mut store) = open_store();
    entries(&mut store, 1);
    let who = actor(&store, "Someone");
    {
        let tx = store.conn_mut().transaction().expect("tx");
        append(
            &tx,
            &NewEntry {
                actor: who.audit(),
                action: AuditAction::Export,
                patient_id: None,
                media_id: Some("m-1"),
                details: serde_json::json!({}),
            },
        )
        .expect("append");
        // Dropped without commit.
    }
    let report = verify(&store).expect("verify");
    assert!(report.is_intact());
    assert_eq!(report.entries, 1);
}
