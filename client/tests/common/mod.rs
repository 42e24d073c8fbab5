//! Known-answer vectors (client/tests/vectors): the other implementations
//! (the portal, docs/examples) are held to these files; each test here holds
//! the Rust implementation to them.

/// The vector file `name`, as the repository has it. With `EHR_WRITE_VECTORS`
/// set, `written` (what this implementation writes today) replaces it first:
/// for a deliberate change of a format, never to make a test pass.
pub fn vector(name: &str, written: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    if std::env::var_os("EHR_WRITE_VECTORS").is_some() {
        std::fs::write(&file, written).unwrap();
    }
    std::fs::read_to_string(&file).expect("the vector is in the repository")
}
