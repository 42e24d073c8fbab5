//! ehr-fhir: the FHIR R4 REST API a hospital runs inside its own network, for
//! its own systems (its EHR, dashboards, integration engine).
//!
//! It is a reader, not a server of data: for each request it acts for one of
//! the hospital's clinicians, whose keys it holds — it fetches through the
//! record gateway signed as that clinician (so the chain's audit trail names
//! the clinician), opens each record here with the clinician's key, verifies
//! it exactly as `ehr fetch` does (device signature and binding, Merkle path
//! against the anchor, state proofs against headers the validators signed),
//! and answers in FHIR. A record that does not verify is never served as
//! data: it is named in an OperationOutcome entry instead.
//!
//! Why its own binary and not a mode of the gateway: the gateway never holds
//! a reader's key (records are end-to-end encrypted; it cannot read them),
//! and it faces other hospitals. This service holds clinicians' keys and
//! faces only its own hospital's systems, behind mutual TLS.
//!
//! Callers prove who they are by their client certificate (mutual TLS, as
//! IHE ATNA's secure nodes do); the service's configuration says which
//! clinicians each certificate may act for (`callers`). docs/fhir.md.

pub mod callers;
pub mod outcome;
pub mod routes;
pub mod search;
pub mod startup;
