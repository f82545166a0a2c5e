//! Compiles the contracts with protox (pure Rust, no protoc) and writes the
//! merged descriptor set next to the generated code for reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "tiejun/events/v1/events.proto",
    "tiejun/leads/v1/leads.proto",
    "tiejun/billing/v1/billing.proto",
    "tiejun/training/v1/training.proto",
    "tiejun/bench/v1/echo.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("tiejun_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs not built yet answer UNIMPLEMENTED until their issue implements them.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
