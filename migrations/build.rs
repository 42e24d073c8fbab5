//! The migrations are embedded at compile time: a new or changed migration
//! folder must rebuild the crate, which Cargo would not otherwise notice.
fn main() {
    println!("cargo:rerun-if-changed=.");
}
