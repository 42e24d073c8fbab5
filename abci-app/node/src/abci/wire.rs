//! CometBFT's ABCI socket framing: each message is an unsigned varint length
//! followed by that many bytes of protobuf.

use std::io::{Read, Write};

/// Larger frames are refused: CometBFT's blocks are at most 100 MiB.
pub const MAX_FRAME_BYTES: u64 = 128 * 1024 * 1024;

/// What a frame's buffer starts with before its bytes arrive.
const FIRST_READ: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the connection closed")]
    Closed,
    #[error("reading the socket failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the frame length prefix is not a valid varint")]
    BadLength,
    #[error("the frame announces {0} bytes, more than the {MAX_FRAME_BYTES} accepted")]
    TooLarge(u64),
}

/// Reads one frame; `Closed` when the peer closed between frames.
pub fn read_frame<R: Read>(r: &mut R) -> Result<Vec<u8>, WireError> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8];
        let byte = match r.read_exact(&mut byte) {
            Ok(()) => byte[0],
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && i == 0 => {
                return Err(WireError::Closed)
            }
            Err(e) => return Err(e.into()),
        };
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if len > MAX_FRAME_BYTES {
                return Err(WireError::TooLarge(len));
            }
            // Grown as bytes arrive, never reserved from the announced length
            // alone: a peer announcing 128 MiB and sending nothing costs nothing.
            let mut buf = Vec::with_capacity(len.min(FIRST_READ) as usize);
            let read = (&mut *r).take(len).read_to_end(&mut buf)?;
            if (read as u64) < len {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            return Ok(buf);
        }
    }
    Err(WireError::BadLength)
}

pub fn encode_frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 10);
    let mut n = message.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(message);
    out
}

pub fn write_frame<W: Write>(w: &mut W, message: &[u8]) -> std::io::Result<()> {
    w.write_all(&encode_frame(message))
}
