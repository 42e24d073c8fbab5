//! The contract ABI's encoding, for the few types the checkpoint contract
//! takes and returns: 32-byte words (uint64, bytes32, address), bytes, and
//! arrays of words.

use super::{keccak256, EthAddress};

pub type Word = [u8; 32];

pub enum Token {
    Word(Word),
    Bytes(Vec<u8>),
    Words(Vec<Word>),
}

pub fn uint(v: u64) -> Word {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

pub fn address(a: &EthAddress) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

/// The first four bytes of keccak-256 over a function's or error's signature.
pub fn selector(signature: &str) -> [u8; 4] {
    let d = keccak256(signature.as_bytes());
    [d[0], d[1], d[2], d[3]]
}

/// The arguments, encoded: each static word in place, each dynamic value
/// as an offset to its tail.
pub fn encode(tokens: &[Token]) -> Vec<u8> {
    let head_len = 32 * tokens.len();
    let mut head = Vec::with_capacity(head_len);
    let mut tail = Vec::new();
    for t in tokens {
        match t {
            Token::Word(w) => head.extend_from_slice(w),
            Token::Bytes(b) => {
                head.extend_from_slice(&uint((head_len + tail.len()) as u64));
                tail.extend_from_slice(&uint(b.len() as u64));
                tail.extend_from_slice(b);
                tail.resize(tail.len().div_ceil(32) * 32, 0);
            }
            Token::Words(ws) => {
                head.extend_from_slice(&uint((head_len + tail.len()) as u64));
                tail.extend_from_slice(&uint(ws.len() as u64));
                for w in ws {
                    tail.extend_from_slice(w);
                }
            }
        }
    }
    head.extend_from_slice(&tail);
    head
}

/// A call's data: the function's selector, then its arguments.
pub fn call(signature: &str, tokens: &[Token]) -> Vec<u8> {
    let mut data = selector(signature).to_vec();
    data.extend_from_slice(&encode(tokens));
    data
}

/// Reads the words of an answer; `None` where it is shorter than asked.
pub struct Answer<'a>(pub &'a [u8]);

impl Answer<'_> {
    pub fn word(&self, index: usize) -> Option<Word> {
        self.0
            .get(32 * index..32 * index + 32)
            .and_then(|w| w.try_into().ok())
    }

    pub fn u64(&self, index: usize) -> Option<u64> {
        let w = self.word(index)?;
        // A uint64 has 24 zero bytes in front; anything else is not one.
        w[..24]
            .iter()
            .all(|b| *b == 0)
            .then(|| u64::from_be_bytes(w[24..].try_into().expect("8 bytes")))
    }

    pub fn address(&self, index: usize) -> Option<EthAddress> {
        let w = self.word(index)?;
        w[..12]
            .iter()
            .all(|b| *b == 0)
            .then(|| EthAddress(w[12..].try_into().expect("20 bytes")))
    }

    /// The dynamic array of words whose offset is the `index`th word.
    pub fn words(&self, index: usize) -> Option<Vec<Word>> {
        let offset = usize::try_from(self.u64(index)?).ok()?;
        let rest = Answer(self.0.get(offset..)?);
        let len = usize::try_from(rest.u64(0)?).ok()?;
        // A length beyond the answer is a lie; refuse before allocating.
        if len > rest.0.len() / 32 {
            return None;
        }
        (1..=len).map(|i| rest.word(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_as_solidity_computes_them() {
        assert_eq!(
            hex::encode(selector("transfer(address,uint256)")),
            "a9059cbb"
        );
    }

    #[test]
    fn dynamic_arguments_follow_the_head() {
        let data = encode(&[
            Token::Word(uint(7)),
            Token::Bytes(vec![1, 2, 3]),
            Token::Words(vec![uint(1), uint(2)]),
        ]);
        let a = Answer(&data);
        assert_eq!(a.u64(0), Some(7));
        assert_eq!(a.u64(1), Some(96));
        assert_eq!(a.u64(3), Some(3), "the bytes' length");
        assert_eq!(a.words(2), Some(vec![uint(1), uint(2)]));
        assert_eq!(data.len(), 3 * 32 + 64 + 96);
    }

    #[test]
    fn an_answer_that_lies_about_its_length_reads_as_nothing() {
        let mut data = uint(32).to_vec();
        data.extend_from_slice(&uint(u64::MAX));
        assert_eq!(Answer(&data).words(0), None);
        assert_eq!(Answer(&data[..40]).word(1), None);
    }
}
