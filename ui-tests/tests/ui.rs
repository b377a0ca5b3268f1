//! Compile-fail and compile-pass tests of `#[service]` and `#[subscriber]`.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p ui-tests`, then review
//! the diff: every message must point at the user's code, with no secondary errors.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/service/*.rs");
    t.compile_fail("tests/ui/subscriber/*.rs");
    t.pass("tests/pass/*.rs");
}
