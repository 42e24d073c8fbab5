//! Keys, addresses and signatures (secp256k1, k256).

pub mod block_tree;
pub mod checkpoint;
mod keys;
pub mod merkle;
pub mod request;

pub use keys::{sha256, verify_signature, Address, PublicKey, SecretKey, SignatureError};
