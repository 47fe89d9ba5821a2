//! The kernels. Each op is a folder with `forward` / `backward` in `mod.rs`, the plain loops in
//! `reference.rs` and the property tests in `tests.rs`.
