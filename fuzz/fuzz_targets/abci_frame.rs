//! Any bytes on the ABCI socket: the frame reader (varint length, bounded
//! buffer) and the request decoder refuse, never panic or over-allocate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tendermint_proto::v0_38::abci::Request;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    while let Ok(frame) = ehr_node::abci::wire::read_frame(&mut input) {
        let _ = <Request as prost::Message>::decode(frame.as_slice());
    }
});
