//! How commands reach Trellis: over the embedded instance's loopback API, or (inside `trellis
//! up`) straight onto its lattice. Either way the subjects and JSON are wadm's and wasmCloud's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use trellis_lattice::{GATHER_LIMIT, GATHER_QUIET, Lattice, LatticeError, Message, Nats, NatsOptions};
use trellis_manager::{BASE_DIR_HEADER, SOURCE_HEADER};
use trellis_types::ctl::Request;
use trellis_types::wadm::{DeployReply, DeployResult, PutReply, PutResult, Status, StatusReply, StatusResult, StatusType};

/// Where client commands find Trellis, unless `--api` says otherwise.
pub(crate) const DEFAULT_API: &str = "http://127.0.0.1:7151";

enum Transport {
    Lattice(Arc<dyn Lattice>),
    /// A NATS lattice, connected on first use.
    Nats(NatsOptions, tokio::sync::OnceCell<Arc<dyn Lattice>>),
    /// An embedded instance's API at a base URL, with its token if it needs one.
    Http(String, Option<String>),
}

/// A connection to one lattice.
pub(crate) struct Client {
    transport: Transport,
    lattice: String,
}

impl Client {
    /// Straight onto an in-process lattice.
    pub(crate) fn in_process(lattice: Arc<dyn Lattice>, name: &str) -> Client {
        Client { transport: Transport::Lattice(lattice), lattice: name.to_owned() }
    }

    /// Onto a NATS lattice.
    pub(crate) fn nats(options: NatsOptions, lattice: &str) -> Client {
        Client { transport: Transport::Nats(options, tokio::sync::OnceCell::new()), lattice: lattice.to_owned() }
    }

    /// Where requests go: onto a lattice (connecting to NATS on first use), or through the API at a base URL.
    async fn route(&self) -> anyhow::Result<Result<&Arc<dyn Lattice>, (&str, Option<&str>)>> {
        Ok(match &self.transport {
            Transport::Lattice(lattice) => Ok(lattice),
            Transport::Nats(options, cell) => {
                Ok(cell.get_or_try_init(|| async { Ok::<_, anyhow::Error>(Arc::new(Nats::connect(options).await?) as Arc<dyn Lattice>) }).await?)
            }
            Transport::Http(base, token) => Err((base, token.as_deref())),
        })
    }

    /// Through an embedded instance's API at `base` (e.g. `http://127.0.0.1:7151`).
    pub(crate) fn http(base: &str, token: Option<String>, lattice: &str) -> Client {
        Client { transport: Transport::Http(base.trim_end_matches('/').to_owned(), token), lattice: lattice.to_owned() }
    }

    /// Sends a request on `subject` and returns the reply body.
    pub(crate) async fn request(&self, subject: String, headers: Vec<(String, String)>, body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let mut message = Message::new(subject, body);
        message.headers = headers;
        match self.route().await? {
            Ok(lattice) => Ok(lattice.request(message, Duration::from_secs(60)).await?.payload.to_vec()),
            Err(api) => through_api(api, "lattice", message).await,
        }
    }

    /// Sends a request every host may answer (`host.ping`, auctions) and returns each answer's body.
    pub(crate) async fn gather(&self, subject: String, body: Vec<u8>) -> anyhow::Result<Vec<Vec<u8>>> {
        let message = Message::new(subject, body);
        match self.route().await? {
            Ok(lattice) => {
                let replies = trellis_lattice::gather(lattice.as_ref(), message, GATHER_QUIET, GATHER_LIMIT).await?;
                Ok(replies.into_iter().map(|m| m.payload.to_vec()).collect())
            }
            Err(api) => {
                let replies: Vec<serde_json::Value> = serde_json::from_slice(&through_api(api, "gather", message).await?).context("the API's gather reply")?;
                Ok(replies.iter().map(|r| r.to_string().into_bytes()).collect())
            }
        }
    }

    /// A wadm API call: `wadm.api.<lattice>.model.<op>[.<name>]`.
    pub(crate) async fn model<T: DeserializeOwned>(&self, op: &str, name: Option<&str>, headers: Vec<(String, String)>, body: Vec<u8>) -> anyhow::Result<T> {
        let subject = trellis_types::wadm::model_subject(&self.lattice, op, name);
        let reply = self.request(subject.clone(), headers, body).await.map_err(|e| match e.downcast_ref::<LatticeError>() {
            Some(LatticeError::NoResponders { .. }) => anyhow::anyhow!(
                "no deployment manager answers on lattice `{}`: start one with `trellis manager`, or wait for a standby to take over (one lease term)",
                self.lattice
            ),
            _ => e,
        })?;
        serde_json::from_slice(&reply).with_context(|| format!("the reply on {subject} is not what wadm sends: {}", String::from_utf8_lossy(&reply)))
    }

    /// The subject of control-interface `request` on this lattice.
    pub(crate) fn ctl_subject(&self, request: Request<'_>) -> String {
        request.subject(&self.lattice)
    }

    /// A control-interface call; fails on `success: false`.
    pub(crate) async fn ctl(&self, request: Request<'_>, body: Vec<u8>) -> anyhow::Result<serde_json::Value> {
        self.checked(self.ctl_subject(request), body).await
    }

    /// A local secret store call: `trellis.secrets.v1.<lattice>.<op>`; fails on `success: false`.
    pub(crate) async fn secrets(&self, op: &str, body: Vec<u8>) -> anyhow::Result<serde_json::Value> {
        self.checked(format!("{}.{}.{op}", trellis_host::SECRET_STORE_PREFIX, self.lattice), body).await
    }

    /// A request answered with the control interface's envelope; fails on `success: false`.
    pub(crate) async fn checked(&self, subject: String, body: Vec<u8>) -> anyhow::Result<serde_json::Value> {
        let reply: serde_json::Value =
            serde_json::from_slice(&self.request(subject.clone(), Vec::new(), body).await?).with_context(|| format!("the reply on {subject} is not JSON"))?;
        if reply["success"] != serde_json::Value::Bool(true) {
            bail!("{}", reply["message"].as_str().unwrap_or("the request failed"));
        }
        Ok(reply)
    }
}

/// `POST <base>/v1/<kind>/<subject>` on an embedded instance's API, with its token if given.
async fn through_api((base, token): (&str, Option<&str>), kind: &str, message: Message) -> anyhow::Result<Vec<u8>> {
    let Message { subject, mut headers, payload: body, .. } = message;
    if let Some(token) = token {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    let url = format!("{base}/v1/{kind}/{subject}");
    let base = base.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(90))).build().into();
        let mut request = agent.post(&url);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| anyhow::anyhow!("cannot reach Trellis at {base}: {e}; is `trellis up` running? (set --api or TRELLIS_API)"))?;
        let status = response.status();
        let text = response.body_mut().read_to_vec().context("reading the reply")?;
        if !status.is_success() {
            bail!("{base}: {status}: {}", String::from_utf8_lossy(&text).trim());
        }
        Ok(text)
    })
    .await?
}

/// The directory relative image paths in the manifest at `path` resolve against (absolute).
pub(crate) fn base_dir_of(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Puts the manifest at `path`; returns its name and version. With `reuse_existing`, a version
/// already stored is not an error: that version is used (with a warning if the text differs).
pub(crate) async fn put_file(client: &Client, path: &Path, reuse_existing: bool) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    put_text(client, text, path, reuse_existing).await
}

/// As [`put_file`], with the manifest's text already read (or made) for the file at `path`.
pub(crate) async fn put_text(client: &Client, text: String, path: &Path, reuse_existing: bool) -> anyhow::Result<(String, String)> {
    // Parse here too, so errors come back at once with the file's own name and lines.
    let (manifest, ignored) = trellis_types::manifest::Manifest::parse_with_warnings(&path.display().to_string(), &text)?;
    print_warnings(&ignored);
    let headers = vec![(SOURCE_HEADER.to_owned(), path.display().to_string()), (BASE_DIR_HEADER.to_owned(), base_dir_of(path).display().to_string())];
    let reply: PutReply = client.model("put", None, headers, text.clone().into_bytes()).await?;
    match reply.result {
        PutResult::Created | PutResult::NewVersion => Ok((reply.name, reply.current_version)),
        PutResult::Error if reuse_existing && manifest.version().is_some() && reply.message.contains("already has version") => {
            let version = manifest.version().expect("checked above").to_owned();
            let stored: trellis_types::wadm::GetReply =
                client.model("get", Some(manifest.name()), Vec::new(), serde_json::to_vec(&serde_json::json!({"version": version}))?).await?;
            if stored.manifest != Some(serde_json::to_value(&manifest)?) {
                eprintln!(
                    "warning: {}: {} {version} is already stored with different contents; using the stored one (change `version` to put the new one)",
                    path.display(),
                    manifest.name()
                );
            }
            Ok((manifest.name().to_owned(), version))
        }
        PutResult::Error => bail!("{}", reply.message),
    }
}

/// Each field a manifest has that Trellis (like wadm) ignores, on stderr.
pub(crate) fn print_warnings(ignored: &trellis_types::manifest::ManifestWarnings) {
    for line in ignored.to_string().lines() {
        eprintln!("warning: {line}");
    }
}

/// Deploys `name` (at `version`, else the newest); fails with the manager's reason.
pub(crate) async fn deploy(client: &Client, name: &str, version: Option<&str>) -> anyhow::Result<DeployReply> {
    let body = serde_json::to_vec(&serde_json::json!({"version": version}))?;
    let reply: DeployReply = client.model("deploy", Some(name), Vec::new(), body).await?;
    match reply.result {
        DeployResult::Acknowledged => Ok(reply),
        DeployResult::NotFound | DeployResult::Error => bail!("{}", reply.message),
    }
}

/// Polls `name`'s status until it settles (deployed, failed or waiting) or `timeout` passes.
pub(crate) async fn wait_for_status(client: &Client, name: &str, timeout: Duration) -> anyhow::Result<Status> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let reply: StatusReply = client.model("status", Some(name), Vec::new(), Vec::new()).await?;
        if reply.result != StatusResult::Ok {
            bail!("{}", reply.message);
        }
        let status = reply.status.unwrap_or_default();
        let settled = matches!(status.info.status_type, StatusType::Deployed | StatusType::Failed | StatusType::Waiting);
        if settled || tokio::time::Instant::now() >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
