//! Types generated from `proto/ehr/v1/*.proto`.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ehr.v1.rs"));
}

pub use v1::*;
