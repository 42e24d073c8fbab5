//! Types generated from `proto/ehr/v1/*.proto`, with a readable JSON form.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ehr.v1.rs"));
}

pub use v1::*;

/// How bytes and enums appear in JSON (`serde_json::to_string(&message)`).
pub mod json {
    use serde::Serializer;

    /// 20 bytes are an address (ehr1…); anything else is hex.
    pub fn bytes<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match crate::crypto::Address::from_slice(v) {
            Some(a) => s.serialize_str(&a.to_string()),
            None => s.serialize_str(&hex::encode(v)),
        }
    }

    fn name_of<S: Serializer>(name: Option<&str>, raw: i32, s: S) -> Result<S::Ok, S::Error> {
        match name {
            Some(n) => s.serialize_str(n),
            None => s.serialize_i32(raw),
        }
    }

    pub mod enums {
        include!(concat!(env!("OUT_DIR"), "/serde_enums.rs"));
    }
}
