//! Compiles the contracts with protox (pure Rust, no protoc), writes the
//! merged descriptor set next to the generated code for reflection, and
//! generates `stored::Stored` for every enum.

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
    fs::write(out.join("stored_enums.rs"), stored_enums(&fds)?)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // A method added to a contract answers UNIMPLEMENTED until a server implements it.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}

/// `impl Stored` for every top-level enum of a `tiejun.<name>.v1` package,
/// its prefix read off its zero value (`LEAD_STATE_UNSPECIFIED`, as buf
/// lint requires).
fn stored_enums(fds: &prost_types::FileDescriptorSet) -> Result<String, Box<dyn std::error::Error>> {
    let (mut code, mut checks, mut count) = (String::new(), String::new(), 0);
    for file in &fds.file {
        let package = file.package();
        let Some(module) = package.strip_prefix("tiejun.") else {
            continue;
        };
        let module = module.replace('.', "::");
        for e in &file.enum_type {
            let zero = e.value.first().map(|v| v.name()).unwrap_or_default();
            let prefix = zero
                .strip_suffix("UNSPECIFIED")
                .filter(|p| p.ends_with('_'))
                .ok_or_else(|| format!("{package}.{}: the zero value must be <PREFIX>_UNSPECIFIED", e.name()))?;
            // One arm per stored name: decoding a row's state allocates nothing.
            let arms: String = e
                .value
                .iter()
                .filter_map(|v| {
                    let stored = v.name().strip_prefix(prefix)?;
                    Some(format!(
                        "            {stored:?} => Self::try_from({}).ok(),\n",
                        v.number()
                    ))
                })
                .collect();
            code.push_str(&format!(
                "impl Stored for crate::{module}::{name} {{\n    const PREFIX: &'static str = {prefix:?};\n    \
                 fn proto_name(self) -> &'static str {{ self.as_str_name() }}\n    \
                 fn from_stored(stored: &str) -> Option<Self> {{\n        match stored {{\n{arms}            \
                 _ => None,\n        }}\n    }}\n}}\n",
                name = e.name(),
            ));
            let numbers: Vec<String> = e.value.iter().map(|v| v.number().to_string()).collect();
            checks.push_str(&format!(
                "    round_trips::<crate::{module}::{name}>(&[{}], &mut failures);\n",
                numbers.join(", "),
                name = e.name(),
            ));
            count += 1;
        }
    }
    code.push_str(&format!(
        "/// How many enums the contracts declare.\n#[cfg(test)]\npub(crate) const ENUMS: usize = {count};\n\n\
         /// Every value of every enum that does not come back from its stored name.\n#[cfg(test)]\n\
         pub(crate) fn failures() -> Vec<String> {{\n    let mut failures = Vec::new();\n{checks}    failures\n}}\n"
    ));
    Ok(code)
}
