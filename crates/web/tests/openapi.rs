//! The API's OpenAPI document checked by a third-party validator: the
//! unmodified Python `openapi-spec-validator` (pinned in
//! `tests/openapi/requirements.txt`), which checks a document against the
//! OpenAPI 3.1 schema and its rules (unique operation ids, path parameters
//! declared, references that resolve). `scripts/test` makes its virtual
//! environment (`python3 -m venv crates/web/tests/openapi/.venv` and
//! `pip install -r requirements.txt`).

use std::{io::Write as _, path::PathBuf};

/// The validator's Python, or `None` where it is not installed: the test
/// says so and passes, unless the whole suite was asked for
/// (`COCKPIT_TEST_ALL=1`, as `scripts/test` sets), where it fails.
fn validator(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi");
    let python = dir.join(".venv/bin/python");
    let ready = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    assert!(
        std::env::var_os("COCKPIT_TEST_ALL").is_none(),
        "{test} needs python3 with the pinned openapi-spec-validator in {}",
        dir.join(".venv").display()
    );
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it needs openapi-spec-validator in crates/web/tests/openapi/.venv; scripts/test installs it"
    );
    None
}

#[test]
fn the_openapi_document_validates_as_openapi_3_1() {
    let Some(python) = validator("the_openapi_document_validates_as_openapi_3_1") else {
        return;
    };
    let doc: &str = &cockpit_web::api::openapi::DOCUMENT;
    let parsed: serde_json::Value = serde_json::from_str(doc).expect("JSON");
    assert_eq!(parsed["openapi"], "3.1.0");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), doc).expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .expect("the validator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the document is not valid OpenAPI 3.1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

/// The validator itself refuses a broken document, so the test above can
/// fail: a path parameter that is never declared.
#[test]
fn the_validator_refuses_a_broken_document() {
    let Some(python) = validator("the_validator_refuses_a_broken_document") else {
        return;
    };
    let mut doc: serde_json::Value =
        serde_json::from_str(&cockpit_web::api::openapi::DOCUMENT).expect("JSON");
    let item = doc["paths"]["/api/v1/apps/{id}"].take();
    doc["paths"]["/api/v1/apps/{id}/broken/{other}"] = item;
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), doc.to_string()).expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .expect("the validator runs");
    assert!(!out.status.success(), "a broken document passed");
}
