//! Accounts and the audit log from the command line.

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
};

mod common;
use common::{BIN, text};

fn run(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[sqlx::test(migrations = false)]
async fn user_add_refuses_weak_passwords_and_audit_verifies(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let out = tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            run(
                &db,
                &[
                    "user",
                    "add",
                    "--email",
                    "amy@example.com",
                    "--role",
                    "admin",
                    "--password-stdin",
                ],
                Some("password1234\n"),
            )
        }
    })
    .await
    .unwrap();
    assert!(
        !out.status.success(),
        "a common password is refused: {}",
        text(&out)
    );

    let out = tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            run(
                &db,
                &[
                    "user",
                    "add",
                    "--email",
                    "amy@example.com",
                    "--role",
                    "admin",
                ],
                None,
            )
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Password (shown once): "),
        "{}",
        text(&out)
    );

    let out = tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            run(
                &db,
                &[
                    "user",
                    "add",
                    "--email",
                    "vic@example.com",
                    "--role",
                    "root",
                ],
                None,
            )
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "unknown role refused");

    let out = tokio::task::spawn_blocking({
        let db = db.clone();
        move || run(&db, &["audit", "verify"], None)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("OK: the chain is intact"),
        "{}",
        text(&out)
    );
    let head = text(&out)
        .lines()
        .find(|l| l.contains("head "))
        .unwrap()
        .split("head ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();

    // Tamper (as the table's owner, triggers off) and verify again.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET actor = 'mallory' WHERE seq = 1;
         ALTER TABLE audit_log ENABLE TRIGGER USER;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let db = db.clone();
        move || run(&db, &["audit", "verify", "--head", &head], None)
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("entry 1: content does not match its hash"),
        "{}",
        text(&out)
    );
}
