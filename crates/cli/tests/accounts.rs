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

#[sqlx::test(migrations = false)]
async fn api_tokens_are_printed_once_listed_and_revoked(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let cli = |args: Vec<&'static str>| {
        let db = db.clone();
        tokio::task::spawn_blocking(move || run(&db, &args, None))
    };
    let out = cli(vec!["migrate"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::query("INSERT INTO orgs (id, name, login_url) VALUES (gen_random_uuid(), 'Acme', 'https://login.salesforce.com')")
        .execute(&pool)
        .await
        .unwrap();

    let out = cli(vec![
        "api-token",
        "create",
        "--name",
        "soar",
        "--role",
        "admin",
        "--org",
        "acme",
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let token = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Token (shown once): "))
        .expect("the token is printed")
        .trim()
        .to_owned();
    assert!(
        token.starts_with("ock_") && token.len() == 4 + 43,
        "{token}"
    );
    let (hash, org): (Vec<u8>, Option<String>) = sqlx::query_as(
        "SELECT t.token_hash, o.name FROM api_tokens t LEFT JOIN orgs o ON o.id = t.org_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        hash,
        cockpit_web::auth::hash_token(&token),
        "only the hash is stored"
    );
    assert_eq!(org.as_deref(), Some("Acme"));

    let out = cli(vec!["api-token", "list"]).await.unwrap();
    let line = text(&out)
        .lines()
        .find(|l| l.contains("soar"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("admin")
            && line.contains("Acme")
            && line.contains("never")
            && line.contains("active"),
        "{line}"
    );
    assert!(!text(&out).contains(&token), "never printed again");
    let id = line.split_whitespace().next().unwrap().to_owned();
    let revoke = {
        let db = db.clone();
        let id = id.clone();
        move || run(&db, &["api-token", "revoke", &id], None)
    };
    let out = tokio::task::spawn_blocking(revoke.clone()).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = tokio::task::spawn_blocking(revoke).await.unwrap();
    assert!(!out.status.success(), "revoked once");
    let out = cli(vec!["api-token", "list"]).await.unwrap();
    assert!(text(&out).contains("revoked"), "{}", text(&out));

    let out = cli(vec![
        "api-token",
        "create",
        "--name",
        "x",
        "--role",
        "viewer",
        "--org",
        "Nowhere",
    ])
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("no org is named"), "{}", text(&out));
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'api_token.%' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            ("cli".to_owned(), "api_token.created".to_owned()),
            ("cli".to_owned(), "api_token.revoked".to_owned())
        ]
    );
}
