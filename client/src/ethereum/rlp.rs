//! Recursive-length prefix encoding, for the one structure signed here: a
//! transaction.

#[derive(Clone, Copy)]
pub enum Item<'a> {
    Bytes(&'a [u8]),
    Uint(u128),
}

fn length_prefix(out: &mut Vec<u8>, short: u8, len: usize) {
    if len <= 55 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(short + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        length_prefix(out, 0x80, b.len());
        out.extend_from_slice(b);
    }
}

/// An integer as its big-endian bytes without leading zeros (zero is empty).
pub fn uint_bytes(v: u128) -> Vec<u8> {
    let be = v.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    be[skip..].to_vec()
}

pub fn list(items: &[Item]) -> Vec<u8> {
    let mut payload = Vec::new();
    for item in items {
        match item {
            Item::Bytes(b) => bytes(&mut payload, b),
            Item::Uint(v) => bytes(&mut payload, &uint_bytes(*v)),
        }
    }
    let mut out = Vec::with_capacity(payload.len() + 9);
    length_prefix(&mut out, 0xc0, payload.len());
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_yellow_paper_examples() {
        assert_eq!(
            list(&[Item::Bytes(b"cat"), Item::Bytes(b"dog")]),
            b"\xc8\x83cat\x83dog"
        );
        assert_eq!(list(&[]), vec![0xc0]);
        assert_eq!(list(&[Item::Uint(0)]), vec![0xc1, 0x80]);
        assert_eq!(list(&[Item::Uint(15)]), vec![0xc1, 0x0f]);
        assert_eq!(list(&[Item::Uint(1024)]), vec![0xc3, 0x82, 0x04, 0x00]);
        let long = [b'a'; 56];
        let encoded = list(&[Item::Bytes(&long)]);
        assert_eq!(&encoded[..4], &[0xf8, 58, 0xb8, 56]);
    }
}
