//! Compiles the .proto files with protox (a protobuf compiler in Rust), so a
//! build needs no `protoc` on the machine, and gives every message a readable
//! JSON form (serde::Serialize): bytes as hex (20-byte addresses as ehr1…),
//! enums by name.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/ehr/v1/types.proto",
        "proto/ehr/v1/tx.proto",
        "proto/ehr/v1/state.proto",
        "proto/ehr/v1/reading.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let mut config = prost_build::Config::new();
    config.type_attribute(".", "#[derive(serde::Serialize)]");
    let mut enum_fns = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &descriptors.file {
        let package = file.package();
        for message in &file.message_type {
            for field in &message.field {
                let path = format!(".{package}.{}.{}", message.name(), field.name());
                let repeated = field.label() == Label::Repeated;
                match field.r#type() {
                    Type::Bytes if !repeated => {
                        config.field_attribute(
                            &path,
                            "#[serde(serialize_with = \"crate::proto::json::bytes\")]",
                        );
                    }
                    Type::Enum => {
                        let name = field
                            .type_name()
                            .rsplit('.')
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let suffix = if repeated { "_list" } else { "" };
                        config.field_attribute(
                            &path,
                            format!("#[serde(serialize_with = \"crate::proto::json::enums::{name}{suffix}\")]"),
                        );
                        if seen.insert(name.clone()) {
                            writeln!(
                                enum_fns,
                                "#[allow(non_snake_case)] pub fn {name}<S: serde::Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {{ super::name_of(super::super::{name}::try_from(*v).ok().map(|e| e.as_str_name()), *v, s) }}\n\
                                 #[allow(non_snake_case)] pub fn {name}_list<S: serde::Serializer>(v: &[i32], s: S) -> Result<S::Ok, S::Error> {{ s.collect_seq(v.iter().map(|x| super::super::{name}::try_from(*x).ok().map_or_else(|| x.to_string(), |e| e.as_str_name().to_string()))) }}"
                            )?;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    config.compile_fds(descriptors)?;
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(format!("{out}/serde_enums.rs"), enum_fns)?;
    Ok(())
}
