//! This crate exists only for its tests: `tests/ui.rs` runs trybuild over the macro misuse
//! cases in `tests/ui/` (each must fail with the `.stderr` next to it) and the shapes in
//! `tests/pass/` (each must compile and run). Keeping them in their own crate, as tokio's
//! `tests-build` does, keeps trybuild and its slow builds out of `micro-core`'s tests.
