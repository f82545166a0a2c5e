//! The JWT secret of `tiejun up`: generated once, kept in the data directory
//! readable by its owner only, never printed.

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use rand::RngCore as _;

/// The file name of the secret inside the data directory.
pub const SECRET_FILE: &str = "jwt-secret";

/// Reads the secret in `data_dir`, creating it (32 random bytes, hex) if missing.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SECRET_FILE);
    if path.exists() {
        return read(data_dir);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// Reads the secret `tiejun up` generated in `data_dir`.
pub fn read(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SECRET_FILE);
    let secret = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (run `tiejun up` first, or pass --jwt-secret)",
            path.display()
        )
    })?;
    Ok(secret.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(dir.path()).expect("read"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "secret readable by others: {mode:o}");
        }
    }
}
