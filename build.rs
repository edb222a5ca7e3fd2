//! Compiles `proto/` with protox (no system protoc) and embeds `migrations/`.

use std::{
    env,
    error::Error,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use prost::Message;

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=migrations");

    let protos = files_with_extension(Path::new("proto/patchbay/v1"), "proto")?;
    let descriptors = protox::compile(&protos, ["proto"])?;
    // The builder ignores `file_descriptor_set_path` on the compile_fds path,
    // so the encoded set for reflection is written here.
    fs::write(
        out_dir.join("patchbay_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .extern_path(".google.rpc", "::tonic_types::pb")
        // Hand-written so the server can send envelopes it encoded once.
        .extern_path(
            ".patchbay.v1.StatusEnvelope",
            "crate::proto::v1::StatusEnvelope",
        )
        .compile_fds(descriptors)?;

    embed_migrations(&out_dir)?;
    embed_git_commit();
    Ok(())
}

/// `PATCHBAY_GIT_COMMIT` for GetDeploymentInfo: the variable when set (a
/// build from a tarball), else the checkout's HEAD, else empty.
fn embed_git_commit() {
    println!("cargo:rerun-if-env-changed=PATCHBAY_GIT_COMMIT");
    let commit = env::var("PATCHBAY_GIT_COMMIT").ok().or_else(|| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    // Rebuild when HEAD moves; only for paths that exist, since a missing
    // one would rerun this script on every build.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!(
        "cargo:rustc-env=PATCHBAY_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// Turns `migrations/NNNN_name.sql` into refinery's `V{N}__{name}` names.
fn embed_migrations(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut code = String::from("pub const MIGRATIONS: &[(&str, &str)] = &[\n");
    let mut versions = Vec::new();
    for path in files_with_extension(Path::new("migrations"), "sql")? {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("migration file name is not UTF-8")?;
        let (number, name) = stem
            .split_once('_')
            .ok_or_else(|| format!("migration {stem} is not named NNNN_name.sql"))?;
        let version: u32 = number
            .parse()
            .map_err(|_| format!("migration {stem} does not start with a number"))?;
        if versions.contains(&version) {
            return Err(format!("two migrations share version {version}").into());
        }
        versions.push(version);
        let absolute = fs::canonicalize(&path)?;
        writeln!(
            code,
            "    (\"V{version}__{name}\", include_str!({:?})),",
            absolute.display().to_string()
        )?;
    }
    code.push_str("];\n");
    let latest = versions.iter().max().copied().unwrap_or(0);
    writeln!(code, "pub const LATEST_VERSION: i64 = {latest};")?;
    fs::write(out_dir.join("migrations.rs"), code)?;
    Ok(())
}
