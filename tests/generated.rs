//! The committed migrations/ folder is exactly what the schema model generates.

use fltr_credits::schema::{ddl, history::migrations, journal};

#[test]
fn migrations_folder_is_in_sync_with_the_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for file in journal::files(&migrations()) {
        let on_disk = std::fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        assert!(
            on_disk == file.contents,
            "migrations/{} differs from the model; run `fltr-credits generate`",
            file.path
        );
    }
}

#[test]
fn files_follow_drizzles_format() {
    for migration in migrations() {
        let text = journal::up_file(&migration);
        assert!(!text.ends_with('\n') && !text.contains('\r'), "{}: LF only, no trailing newline", migration.tag);
        let pieces = ddl::split_file(&text);
        assert_eq!(pieces.len(), ddl::up(&migration).len());
        assert!(pieces[0].starts_with("SET LOCAL lock_timeout"), "lock timeout comes first");
        for piece in pieces {
            assert!(piece.ends_with(';'), "{piece}");
        }
    }
    let journal_text = journal::journal(&migrations());
    let parsed: serde_json::Value = serde_json::from_str(&journal_text).unwrap();
    assert_eq!(parsed["dialect"], "postgresql");
    assert_eq!(parsed["entries"][1]["tag"], "0001_abandoned_human_fly");
}

#[test]
fn every_foreign_key_is_added_not_valid_inside_a_guard_then_validated() {
    for migration in migrations() {
        let text = journal::up_file(&migration);
        for fk in migration.foreign_keys() {
            assert!(text.contains(&format!("ADD CONSTRAINT \"{}\"", fk.name)));
            assert!(text.contains(&format!("VALIDATE CONSTRAINT \"{}\"", fk.name)));
        }
        assert_eq!(text.matches("NOT VALID;").count(), text.matches("WHEN duplicate_object").count());
    }
}

#[test]
fn seed_objects_keep_the_guides_names_and_actions() {
    let text = journal::up_file(&migrations()[1]);
    for expected in [
        r#""credit_transactions_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE set null ON UPDATE no action"#,
        r#""users_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE no action ON UPDATE no action"#,
        r#"ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "total_credits_purchased" integer DEFAULT 0 NOT NULL;"#,
        "\t\"daily_limit\" integer,\n",
    ] {
        assert!(text.contains(expected), "missing: {expected}");
    }
}
