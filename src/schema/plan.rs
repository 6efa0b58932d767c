//! Which migrations to apply or roll back, decided from drizzle's journal table with no I/O.
//!
//! drizzle's rule is kept exactly so both tools agree: a migration is pending when its `when` is
//! greater than the largest recorded `created_at`; hashes are compared only to warn.

use crate::core::error::CreditError;
use crate::schema::journal;
use crate::schema::model::Migration;

/// A row of `drizzle.__drizzle_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationPlan<'a> {
    pub pending: Vec<&'a Migration>,
    /// Migrations whose recorded hash differs from ours: applied from another file (e.g. a
    /// drizzle-kit generated one). Not an error — statements are idempotent — but worth saying.
    pub hash_mismatches: Vec<&'a Migration>,
    /// Recorded entries this binary does not know (a newer release applied them).
    pub unknown_applied: usize,
}

pub fn plan<'a>(migrations: &'a [Migration], applied: &[AppliedMigration]) -> MigrationPlan<'a> {
    let last_applied = applied.iter().map(|row| row.created_at).max();
    let pending = migrations.iter().filter(|migration| last_applied.is_none_or(|last| migration.when > last)).collect();
    let hash_mismatches = migrations
        .iter()
        .filter(|migration| {
            applied.iter().any(|row| row.created_at == migration.when && row.hash != journal::hash(migration))
        })
        .collect();
    let unknown_applied =
        applied.iter().filter(|row| !migrations.iter().any(|migration| migration.when == row.created_at)).count();
    MigrationPlan { pending, hash_mismatches, unknown_applied }
}

/// The migrations to undo, newest first, so that `target` is the last one applied. `target`
/// may be a tag or its four-digit index; `"none"` undoes everything.
pub fn rollback<'a>(
    migrations: &'a [Migration],
    applied: &[AppliedMigration],
    target: &str,
) -> Result<Vec<&'a Migration>, CreditError> {
    let target_when = if target == "none" {
        i64::MIN
    } else {
        migrations
            .iter()
            .find(|migration| migration.tag == target || migration.tag.get(..4) == Some(target))
            .map(|migration| migration.when)
            .ok_or_else(|| {
                CreditError::invalid_request(format!(
                    "unknown migration {target:?}; expected one of: none, {}",
                    tags(migrations)
                ))
            })?
    };
    let last_applied = applied.iter().map(|row| row.created_at).max().unwrap_or(i64::MIN);
    Ok(migrations
        .iter()
        .rev()
        .filter(|migration| migration.when > target_when && migration.when <= last_applied)
        .collect())
}

/// `--to TAG` for `sql up`: the migrations up to and including `target` (all when `None`).
pub fn up_to<'a>(migrations: &'a [Migration], target: Option<&str>) -> Result<Vec<&'a Migration>, CreditError> {
    let Some(target) = target else { return Ok(migrations.iter().collect()) };
    let position = migrations
        .iter()
        .position(|migration| migration.tag == target || migration.tag.get(..4) == Some(target))
        .ok_or_else(|| {
            CreditError::invalid_request(format!("unknown migration {target:?}; expected one of: {}", tags(migrations)))
        })?;
    Ok(migrations[..=position].iter().collect())
}

fn tags(migrations: &[Migration]) -> String {
    migrations.iter().map(|migration| migration.tag).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::history::migrations;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn recorded(migration: &Migration) -> AppliedMigration {
        AppliedMigration { hash: journal::hash(migration), created_at: migration.when }
    }

    #[test]
    fn an_empty_journal_makes_everything_pending() {
        let all = migrations();
        assert_eq!(plan(&all, &[]).pending.len(), all.len());
    }

    #[test]
    fn pending_follows_drizzles_largest_created_at_rule() {
        let all = migrations();
        let plan = plan(&all, &[recorded(&all[0])]);
        assert_eq!(
            plan.pending.iter().map(|m| m.tag).collect::<Vec<_>>(),
            all[1..].iter().map(|m| m.tag).collect::<Vec<_>>()
        );
        assert!(plan.hash_mismatches.is_empty());
    }

    #[test]
    fn a_different_hash_is_reported_but_not_reapplied() {
        let all = migrations();
        let plan = plan(&all, &[AppliedMigration { hash: "other".into(), created_at: all[0].when }]);
        assert_eq!(plan.pending.len(), all.len() - 1);
        assert_eq!(plan.hash_mismatches.len(), 1);
    }

    #[test]
    fn rollback_undoes_newest_first_down_to_the_target() {
        let all = migrations();
        let applied: Vec<_> = all.iter().map(recorded).collect();
        let undo = rollback(&all, &applied, "0000_nifty_bruce_banner").unwrap();
        assert_eq!(
            undo.iter().map(|m| m.tag).collect::<Vec<_>>(),
            all[1..].iter().rev().map(|m| m.tag).collect::<Vec<_>>()
        );
        assert_eq!(rollback(&all, &applied, "none").unwrap().len(), all.len());
        assert_eq!(rollback(&all, &applied, "0009").unwrap_err().code(), "invalid_request");
        assert!(rollback(&all, &[], "0000").unwrap().is_empty(), "nothing applied, nothing to undo");
    }
}
