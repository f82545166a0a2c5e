//! Files that hold data are readable by their owner only: a data directory
//! is 0700, a database file 0600 from its first byte, and an existing one
//! is tightened when it is opened.

use std::{
    fs::{DirBuilder, OpenOptions, Permissions},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use anyhow::Context as _;

/// The mode of a directory holding data.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a file holding data.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) as 0700, or makes an existing one 0700.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
        .with_context(|| format!("making {} private", dir.display()))
}

/// Creates `file` empty as 0600 if it is missing, or makes it 0600. Its
/// directory must exist. In-memory databases (`:memory:`) are left alone.
pub fn private_file(file: &Path) -> anyhow::Result<()> {
    if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
        return Ok(());
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(file, Permissions::from_mode(FILE_MODE))
                .with_context(|| format!("making {} private", file.display()))
        }
        Err(err) => Err(err).with_context(|| format!("creating {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_dir_and_file_are_the_owners_alone_and_old_ones_are_tightened() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        private_dir(&dir).expect("dir");
        assert_eq!(mode(&dir), DIR_MODE);
        let file = dir.join("leads.db");
        private_file(&file).expect("file");
        assert_eq!(mode(&file), FILE_MODE);
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("loosen");
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).expect("loosen");
        private_dir(&dir).expect("dir again");
        private_file(&file).expect("file again");
        assert_eq!((mode(&dir), mode(&file)), (DIR_MODE, FILE_MODE));
    }
}
