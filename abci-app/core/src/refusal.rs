//! Refusal codes: stable numbers that CheckTx and FinalizeBlock return, with a
//! message a person can act on. Numbers never change meaning; new ones are
//! added. docs/ledger.md lists them all.

use std::fmt;

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $num:literal, )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum Code {
            $( $(#[doc = $doc])* $name = $num, )*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            pub fn name(self) -> &'static str {
                match self { $(Code::$name => stringify!($name),)* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Code::$name => concat!($($doc),*).trim_ascii(),)* }
            }

            pub fn from_u32(n: u32) -> Option<Code> {
                match n { $($num => Some(Code::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// Accepted.
    Ok = 0,
    /// The bytes are not a SignedTx envelope.
    TxMalformed = 1,
    /// The transaction is larger than the ledger accepts.
    TxTooLarge = 2,
    /// The public key is not a 33-byte compressed secp256k1 point.
    BadPublicKey = 3,
    /// The signature is malformed, high-S, or does not match key and body.
    BadSignature = 4,
    /// The signed body is not a TxBody.
    BodyMalformed = 5,
    /// The body names another chain.
    WrongChainId = 6,
    /// The body carries no action.
    NoAction = 7,
    /// A field of the action is missing or out of range.
    InvalidField = 8,
    /// The nonce was already used by this account.
    NonceReplayed = 20,
    /// The nonce skips ahead of the account's next nonce.
    NonceSkipped = 21,
    /// The signer is not a registered participant.
    NotRegistered = 30,
    /// The signer is suspended by their organisation.
    Suspended = 31,
    /// The signer's organisation is not an active consortium member.
    OrgNotMember = 32,
    /// The signer's role or kind may not send this action.
    WrongRole = 33,
    /// Only the patient or their guardian may do this.
    NotPatientOrGuardian = 34,
    /// The signer holds no current access to this patient's records of this category.
    NoAccess = 35,
    /// The target belongs to another organisation.
    WrongOrganisation = 36,
    /// An actor may not do this to themselves.
    SelfAction = 37,
    /// The key was not enrolled by a member hospital before registering.
    NotEnrolled = 38,
    /// A disclosure is not backed by the accessor's signed request to this
    /// gateway for this patient, category and purpose.
    UnrequestedDisclosure = 39,
    /// The key was replaced (rotated or recovered): it no longer signs for
    /// its participant.
    KeyReplaced = 40,
    /// No such member organisation.
    UnknownOrganisation = 50,
    /// No such participant.
    UnknownParticipant = 51,
    /// No such patient.
    UnknownPatient = 52,
    /// No such device.
    UnknownDevice = 53,
    /// No such lab order.
    UnknownOrder = 54,
    /// No such prescription.
    UnknownPrescription = 55,
    /// No such proposal.
    UnknownProposal = 56,
    /// No such validator.
    UnknownValidator = 57,
    /// No such grant.
    UnknownGrant = 58,
    /// No such open request for access.
    UnknownRequest = 59,
    /// The patient named no recovery contacts.
    NoRecoveryContacts = 60,
    /// No such amendment.
    UnknownAmendment = 61,
    /// No such record anchored one by one.
    UnknownRecord = 62,
    /// The code system has no such code.
    UnknownCode = 63,
    /// The key is already registered.
    AlreadyRegistered = 70,
    /// The organisation id is already taken.
    OrganisationExists = 71,
    /// The device id is already bound.
    DeviceExists = 72,
    /// The record id is already anchored.
    RecordExists = 73,
    /// This service already anchored a batch with this id.
    BatchExists = 74,
    /// The validator is already in the set.
    ValidatorExists = 75,
    /// This organisation already voted on the proposal.
    AlreadyVoted = 76,
    /// The key signs, or signed, for a participant (a rotation or recovery bound it).
    KeyInUse = 77,
    /// The code is already in the directory.
    CodeExists = 78,
    /// The proposal is no longer open.
    ProposalClosed = 90,
    /// The lab order is not open.
    OrderNotOpen = 91,
    /// The prescription has no fills left.
    PrescriptionExhausted = 92,
    /// The prescription is past its validity.
    PrescriptionExpired = 93,
    /// The device was revoked.
    DeviceRevoked = 94,
    /// The expiry is not after the current block time.
    ExpiryNotInFuture = 95,
    /// The consortium cannot lose its last member.
    LastMember = 96,
    /// The change would leave the validator set empty or invalid.
    ValidatorSetInvalid = 97,
    /// The participant is already in that status.
    StatusUnchanged = 98,
    /// A limit on what one party may add to the state was reached.
    QuotaExceeded = 99,
    /// A recovery of the patient's key to another key is under way.
    RecoveryPending = 100,
    /// The amendment was already decided (or disputed), or its record superseded.
    AmendmentClosed = 101,
    /// An amendment of the record is not decided yet.
    AmendmentPending = 102,
    /// A legal hold covers the records: they are kept until it ends.
    LegalHold = 103,
    /// The prescription was corrected by an accepted amendment.
    PrescriptionCorrected = 104,
    /// The code is retired: refused for new records.
    CodeRetired = 105,
    /// This admin already attested a checkpoint at this height or a later one.
    StaleAttestation = 106,
    /// The ledger failed internally; the transaction was not applied.
    Internal = 255,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", *self as u32, self.name())
    }
}

/// Why a transaction was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused with code {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

impl From<crate::storage::StorageError> for Refusal {
    fn from(e: crate::storage::StorageError) -> Self {
        Refusal::new(Code::Internal, e.to_string())
    }
}

/// Shorthand for `Err(Refusal::new(code, message))`.
pub fn refuse<T>(code: Code, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, message))
}
