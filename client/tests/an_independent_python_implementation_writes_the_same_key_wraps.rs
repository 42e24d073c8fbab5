//! The key-wrap formats (docs/ingest.md) are implemented a second time, in
//! Python with the `cryptography` package (docs/examples/wrap_key.py): it
//! must write byte for byte the known-answer vectors the Rust implementation
//! is tested against, for version 1 and version 2 — and open what it wrote.

use std::path::Path;
use std::process::Command;

#[test]
fn an_independent_python_implementation_writes_the_same_key_wraps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("docs/examples/wrap_key.py");
    let out = match Command::new("python3").arg(&script).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: python3 cannot be run here ({e}); the Rust side is checked by record_encryption's own vectors test");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'cryptography'") {
        eprintln!("SKIPPED: Python's cryptography package is not installed (apt install python3-cryptography)");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let vectors: Vec<String> = ["wrap-v1.hex", "wrap-v2.hex"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(root.join("client/tests/vectors").join(f))
                .expect("the vectors are in the repository")
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(printed, vectors);
}
