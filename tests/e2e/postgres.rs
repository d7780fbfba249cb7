//! wasmcloud:postgres against a real PostgreSQL server (Debian's `postgresql`), linked as
//! wasmCloud's sqldb-postgres provider is: every common value type both ways, prepared
//! statements, errors by case, one link's database out of another component's reach.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// A throwaway PostgreSQL cluster on a free loopback port (trust auth, user `trellis`), stopped
/// when dropped. As root it runs as the `postgres` user, since the server refuses root.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Whether this process runs as root: `/proc/self` belongs to the effective user.
fn root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn as_server_user(program: &Path) -> Command {
    if root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e} (apt-get install postgresql)"));
    assert!(out.status.success(), "{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A CA, and a certificate it signed for 127.0.0.1 with its key, in PEM.
struct Certificates {
    ca: String,
    server: String,
    server_key: String,
}

impl Certificates {
    fn new() -> Certificates {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
        Certificates { ca: ca.pem(), server: server.pem(), server_key: key.serialize_pem() }
    }
}

impl Postgres {
    fn start() -> Postgres {
        Postgres::start_with(None)
    }

    /// A server that takes TCP connections over TLS only, with `certificates`.
    fn start_tls(certificates: &Certificates) -> Postgres {
        Postgres::start_with(Some(certificates))
    }

    fn start_with(tls: Option<&Certificates>) -> Postgres {
        // Debian's layout: /usr/lib/postgresql/<major>/bin; the newest major wins.
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is needed for these tests (apt-get install postgresql)")
            .map(|e| e.unwrap().path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        bins.sort();
        let bin = bins.pop().expect("no /usr/lib/postgresql/<major>/bin/pg_ctl");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(dir.path());
            run(chown, "chown");
        }
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb.args(["-U", "trellis", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"]).arg(&data);
        run(initdb, "initdb");
        let port = free_port();
        let mut options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        if let Some(certificates) = tls {
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert, &certificates.server).unwrap();
            std::fs::write(&key, &certificates.server_key).unwrap();
            // The server refuses a key others can read, or (as root runs it) one it does not own.
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            if root() {
                let mut chown = Command::new("chown");
                chown.arg("postgres:postgres").arg(&cert).arg(&key);
                run(chown, "chown");
            }
            std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
            options += &format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert.display(), key.display());
        }
        // `-w` waits until the server accepts connections.
        let mut start = as_server_user(&bin.join("pg_ctl"));
        start.args(["-w", "-s", "-l"]).arg(dir.path().join("log")).args(["-o", &options, "-D"]).arg(&data).arg("start");
        run(start, "pg_ctl start");
        Postgres { bin, data, port, _dir: dir }
    }

    fn create_database(&self, name: &str) {
        let mut cmd = Command::new(self.bin.join("createdb"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "trellis", name]);
        run(cmd, "createdb");
    }

    /// The link config of wasmCloud's sqldb-postgres provider for `database`.
    fn link_config(&self, database: &str) -> LinkConfig {
        vec![
            ("POSTGRES_HOST", "127.0.0.1".into()),
            ("POSTGRES_PORT", self.port.to_string()),
            ("POSTGRES_USERNAME", "trellis".into()),
            ("POSTGRES_PASSWORD", String::new()),
            ("POSTGRES_DATABASE", database.into()),
        ]
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = as_server_user(&self.bin.join("pg_ctl"));
        stop.args(["-s", "-m", "immediate", "-D"]).arg(&self.data).arg("stop");
        let _ = stop.output();
    }
}

/// A link config: `(key, value)` pairs.
type LinkConfig = Vec<(&'static str, String)>;

/// `ledger` components, each linked to the sqldb-postgres capability `db` with its own link
/// config, and each served on its own port.
fn ledger_app(links: &[(&str, LinkConfig, u16)]) -> ManifestFile {
    let mut components = Vec::new();
    for (name, config, _) in links {
        let mut c = component(name, guests::LEDGER, 2, "");
        c += &format!(
            "        - type: link\n          properties:\n            namespace: wasmcloud\n            package: postgres\n            interfaces: [query, prepared]\n            target:\n              name: db\n              config:\n                - name: {name}-db\n                  properties:\n"
        );
        for (k, v) in config {
            c += &format!("                    {k}: \"{v}\"\n");
        }
        components.push(c);
    }
    components.push("    - name: db\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/sqldb-postgres:0.10.0\n".into());
    let addresses: Vec<[(&str, String); 1]> = links.iter().map(|(_, _, port)| [("address", format!("127.0.0.1:{port}"))]).collect();
    let addresses: Vec<[(&str, &str); 1]> = addresses.iter().map(|[(k, v)]| [(*k, v.as_str())]).collect();
    let routes: Vec<(&str, &[(&str, &str)])> = links.iter().zip(&addresses).map(|((name, _, _), a)| (*name, &a[..])).collect();
    components.push(http_server("http", &[], &routes));
    manifest(&app("shop", &components))
}

#[test]
fn components_read_and_write_postgres_through_the_sqldb_provider_link() {
    let pg = Postgres::start();
    pg.create_database("other");
    let (port, other_port) = (free_port(), free_port());
    let m = ledger_app(&[("ledger", pg.link_config("postgres"), port), ("stranger", pg.link_config("other"), other_port)]);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");

    assert_eq!(get(&format!("{base}/setup"), None).body, "ready");
    assert_eq!(get(&format!("{base}/add/apple/3"), None).body, "inserted 1");
    assert_eq!(get(&format!("{base}/add/pear/4"), None).body, "inserted 1");

    // Every value comes back as the case its column type calls for.
    let listed = get(&format!("{base}/list"), None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let first = listed.body.lines().next().unwrap();
    for expected in [
        "name=PgValue::Text(\"apple\")",
        "qty=PgValue::Int4(3)",
        "big=PgValue::Int8(9000000000)",
        "price=PgValue::Numeric(\"19.99\")",
        "ok=PgValue::Boolean(false)",
        "ratio=PgValue::Float8((6755399441055744, -53, 1))",
        "tags=PgValue::TextArray([\"red\", \"ripe\"])",
        "data=PgValue::Bytea([0, 1, 254, 255])",
        "doc=PgValue::Jsonb(\"{\\\"origin\\\":\\\"farm\\\"}\")",
        "ref=PgValue::Uuid(\"67e55044-10b1-426f-9247-bb680e5fe0c8\")",
        "day=PgValue::Date(Date::Ymd((2026, 11, 25)))",
        "at=PgValue::Timestamp(Timestamp { date: Date::Ymd((2026, 11, 25)), time: Time { hour: 12, min: 30, sec: 5, micro: 250 } })",
        "at_tz=PgValue::TimestampTz(TimestampTz { timestamp: Timestamp { date: Date::Ymd((2026, 11, 25)), time: Time { hour: 10, min: 30, sec: 5, micro: 250 } }, offset: Offset::EasternHemisphereSecs(0) })",
        "note=PgValue::Null",
    ] {
        assert!(first.contains(expected), "missing `{expected}` in\n{first}");
    }
    assert!(listed.body.lines().nth(1).unwrap().contains("ok=PgValue::Boolean(true)"), "{}", listed.body);

    // Errors come back as their cases, with the server's reason.
    let bad = get(&format!("{base}/bad-sql"), None);
    assert!(bad.status == 500 && bad.body.contains("QueryError::InvalidQuery") && bad.body.contains("42601"), "{}", bad.body);
    let bad = get(&format!("{base}/bad-param"), None);
    assert!(bad.body.contains("QueryError::InvalidParams") && bad.body.contains("Text cannot be a parameter of type int4"), "{}", bad.body);
    let bad = get(&format!("{base}/bad-token"), None);
    assert_eq!(bad.body, "error: PreparedStatementExecError::UnknownPreparedQuery");

    // The other component's link names another database: the table is not there.
    let other = get(&format!("http://127.0.0.1:{other_port}/list"), None);
    assert!(other.status == 500 && other.body.contains("relation \\\"items\\\" does not exist"), "{}", other.body);
}

#[test]
fn postgres_over_tls_checks_the_servers_certificate() {
    let certificates = Certificates::new();
    let pg = Postgres::start_tls(&certificates);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &certificates.ca).unwrap();
    let mut config = pg.link_config("postgres");
    config.push(("POSTGRES_TLS_REQUIRED", "true".into()));

    // The server's CA is private: without it, the certificate is refused.
    let port = free_port();
    let err = Up::start(&[&ledger_app(&[("ledger", config.clone(), port)]).path], &[]).unwrap_err();
    assert!(err.contains("cannot connect to PostgreSQL at trellis@127.0.0.1") && err.contains("UnknownIssuer"), "{err}");

    // Trusted, it connects; the server takes TLS connections only, so the queries prove it.
    config.push(("POSTGRES_TLS_CA", ca.path().to_str().unwrap().to_owned()));
    let _up = Up::start(&[&ledger_app(&[("ledger", config, port)]).path], &[]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/setup"), None).body, "ready");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/add/fig/2"), None).body, "inserted 1");
}

#[test]
fn a_bad_postgres_link_fails_the_deploy_naming_field_and_server() {
    let port = free_port();
    let mut config = vec![("POSTGRES_HOST", "127.0.0.1".to_string()), ("POSTGRES_USERNAME", "trellis".into()), ("POSTGRES_DATABASE", "postgres".into())];
    let err = Up::start(&[&ledger_app(&[("ledger", config.clone()[1..].to_vec(), port)]).path], &[]).unwrap_err();
    assert!(err.contains("spec.components[0].traits[1].properties.target.config: the link from `ledger` to `db`: POSTGRES_HOST is missing"), "{err}");

    let dead = free_port();
    config.push(("POSTGRES_PORT", dead.to_string()));
    let err = Up::start(&[&ledger_app(&[("ledger", config, port)]).path], &[]).unwrap_err();
    assert!(err.contains(&format!("postgres backend of `db`: cannot connect to PostgreSQL at trellis@127.0.0.1:{dead}/postgres")), "{err}");
}

/// `wasi:keyvalue` on PostgreSQL, linked with sqldb-postgres's keys: the same assertions as
/// every backend, counters that lose no concurrent increment, keys that outlive the host, and
/// a wrong key named at its field.
#[test]
fn keyvalue_on_postgres_is_one_more_backend_of_the_same_component() {
    use crate::capabilities::{body, exercise, increment_from_four_threads, kv_app};
    let pg = Postgres::start();
    pg.create_database("kv");
    let config = pg.link_config("kv");
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let m = kv_app("wasmcloud+builtin://keyvalue-postgres", &pairs, port);
    let up = Up::start(&[&m.path], &[]).unwrap();
    exercise(&base, true);

    increment_from_four_threads(&base, "race", 25);
    assert_eq!(body(&base, "get/race"), "100");
    assert_eq!(body(&base, "set/word/abc"), "ok");
    let not_a_counter = get(&format!("{base}/incr/word"), None);
    assert!(not_a_counter.body.contains("value of `word` is not a decimal counter"), "{}", not_a_counter.body);

    // The keys are the database's, not the host's.
    assert!(up.terminate().success());
    let _up = Up::start(&[&m.path], &[]).unwrap();
    assert_eq!(body(&base, "incr/race"), "101");

    let mut missing = pairs.clone();
    missing.retain(|(k, _)| *k != "POSTGRES_HOST");
    let bad = kv_app("wasmcloud+builtin://keyvalue-postgres", &missing, free_port());
    let err = Up::start(&[&bad.path], &[]).unwrap_err();
    assert!(err.contains("spec.components[0].traits[1].properties.target.config: the link from `counter` to `kv`: POSTGRES_HOST is missing"), "{err}");
}
