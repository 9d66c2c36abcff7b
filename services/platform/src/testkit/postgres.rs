//! A private PostgreSQL cluster for tests that need a server configured differently from the
//! shared one: here, one that takes TCP connections only over TLS (`hostssl`), with a
//! certificate of the test's own CA. Built from the machine's PostgreSQL server binaries
//! (`initdb`, `pg_ctl`), run as `postgres` when the tests run as root, and stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use super::tls::TestCa;

/// A running private cluster.
pub struct PrivateCluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The newest PostgreSQL server binaries on this machine.
fn server_binaries() -> anyhow::Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no PostgreSQL server binaries under /usr/lib/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().context("no initdb found")
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `program` as the `postgres` user when we are root (PostgreSQL refuses root).
fn run(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = if as_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args)
            .status()
    } else {
        Command::new(program).args(args).status()
    }
    .with_context(|| format!("running {}", program.display()))?;
    if !status.success() {
        bail!("{} {:?} failed: {status}", program.display(), args);
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl PrivateCluster {
    /// A cluster on a free loopback port whose TCP connections must use TLS, serving a
    /// certificate for `localhost`/127.0.0.1 signed by `ca`.
    pub fn start_tls_only(ca: &TestCa) -> anyhow::Result<Self> {
        let bin = server_binaries()?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        if as_root() {
            let owner = Command::new("chown")
                .args(["postgres"])
                .arg(dir.path())
                .status()?;
            anyhow::ensure!(owner.success(), "chown of the cluster folder failed");
        }
        let data_arg = data.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &["-D", &data_arg, "-U", "postgres", "--auth=trust", "-N"],
        )?;
        let server = ca.server("postgres-server")?;
        let port = free_port()?;
        let copy = |from: &str, to: &str| -> anyhow::Result<()> {
            let target = data.join(to);
            std::fs::copy(from, &target)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
            if as_root() {
                Command::new("chown")
                    .arg("postgres")
                    .arg(&target)
                    .status()?;
            }
            Ok(())
        };
        copy(&server.cert_file, "server.crt")?;
        copy(&server.key_file, "server.key")?;
        let conf = format!(
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\n",
            dir.path().display()
        );
        append(&data.join("postgresql.conf"), &conf)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )?;
        let log = dir.path().join("server.log").to_string_lossy().into_owned();
        run(
            &bin.join("pg_ctl"),
            &["-D", &data_arg, "-l", &log, "-w", "-t", "30", "start"],
        )?;
        Ok(Self {
            bin,
            data,
            port,
            _dir: dir,
        })
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        );
    }
}
