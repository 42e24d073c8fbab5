//! Compiles the .proto files with protox (a protobuf compiler in Rust), so a
//! build needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/ehr/v1/types.proto",
        "proto/ehr/v1/tx.proto",
        "proto/ehr/v1/state.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
