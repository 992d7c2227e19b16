//! Test tiers for the third-party client tests: a test whose runtime is
//! missing says so and passes, unless the whole suite was asked for
//! (`COCKPIT_TEST_ALL=1`, as scripts/test sets after installing them), where
//! it fails.

use std::io::Write as _;

/// Whether `test` can run (`ready`); otherwise it is skipped with `hint`.
pub fn runs_here(test: &str, ready: bool, hint: &str) -> bool {
    if ready {
        return true;
    }
    assert!(
        std::env::var_os("COCKPIT_TEST_ALL").is_none(),
        "{test} {hint}"
    );
    // Straight to stderr: the harness hides what `eprintln!` prints in a
    // test that passes.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it {hint}; scripts/test installs it and runs it"
    );
    false
}
