//! Secrets Patchbay generates for itself and keeps in the data directory
//! (the development JWT secret, the embedded setup's encryption key).

use std::{
    fs, io,
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

/// Reads the secret at `path`, or creates it (mode 0600) with `generate`.
/// When two processes race, one creates it and the other reads its value.
pub fn load_or_create(path: &Path, generate: impl FnOnce() -> String) -> io::Result<String> {
    load_or_create_telling(path, generate).map(|(secret, _)| secret)
}

/// Like [`load_or_create`]; also says whether this call created it.
pub fn load_or_create_telling(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> io::Result<(String, bool)> {
    match fs::read_to_string(path) {
        Ok(existing) => return Ok((existing.trim().to_owned(), false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    let secret = generate();
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok((secret, true))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok((fs::read_to_string(path)?.trim().to_owned(), false))
        }
        Err(e) => Err(e),
    }
}
