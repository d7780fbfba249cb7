//! `trellis new`, `trellis build` and `trellis dev`: the developer loop.
//!
//! `dev` builds each component of the project's manifest from its sources, starts Trellis in
//! this process, and deploys the manifest with every image pointing at a content-addressed copy
//! of its build. On a change it rebuilds only the projects the changed files belong to and
//! deploys the next version: the host starts the new build beside the old one, moves the
//! routes over, and lets the old one finish its in-flight requests. State lives in the
//! capabilities, not the component, so it survives; a failed build changes nothing.

mod workspace;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use trellis_dev::build::{self, Built};
use trellis_dev::project::Project;
use trellis_dev::template;
use trellis_dev::watch::{self, Ignore, Watch};

use crate::app::Connection;
use crate::node::HostArgs;
use crate::output::{Format, print_json};
use workspace::Workspace;

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The project's name (and its directory's, unless --dir).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// The template.
    #[arg(long, short, default_value = "rust-hello")]
    template: String,
    /// Where to write it (default: ./NAME).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// List the templates.
    #[arg(long)]
    list: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Format,
}

pub(crate) fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        let rows: Vec<_> = template::ALL.iter().map(|t| serde_json::json!({"template": t.id, "language": t.language, "description": t.description})).collect();
        if args.output == Format::Json {
            print_json(&serde_json::Value::from(rows));
        } else {
            for t in template::ALL {
                println!("{:<18} {:<11} {}", t.id, t.language, t.description);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.expect("clap requires a name without --list");
    let template = template::find(&args.template)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&name));
    let files = template::generate(template, &name, &dir)?;
    if args.output == Format::Json {
        print_json(&serde_json::json!({"dir": dir, "template": template.id, "files": files}));
        return Ok(ExitCode::SUCCESS);
    }
    println!("created {} from template {} ({} files)", dir.display(), template.id, files.len());
    println!("next:\n  cd {}", dir.display());
    if template.language == "typescript" {
        println!("  npm install");
    }
    println!("  trellis dev        # builds, serves http://127.0.0.1:8000/, rebuilds on every save");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The project (or the directory of a manifest whose components it builds).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The manifest whose `file://` components to build (default: DIR/wadm.yaml, if there).
    #[arg(long, short = 'm')]
    manifest: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Format,
}

pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let workspace = Workspace::load(&args.dir, args.manifest.as_deref(), DEFAULT_ADDRESS)?;
        // A manifest that builds nothing from here still leaves the project itself to build.
        let projects: Vec<Project> = if workspace.sources.is_empty() {
            vec![Project::load(&args.dir)?]
        } else {
            workspace.sources.into_iter().map(|s| s.project).collect()
        };
        let mut rows = Vec::new();
        for project in &projects {
            eprintln!("building {} ({}, from {})", project.name, project.root.display(), project.from);
            let built = build::build(project).await.with_context(|| format!("building {}", project.name))?;
            rows.push(serde_json::json!({
                "project": project.name, "path": built.path, "digest": built.digest, "bytes": built.bytes, "seconds": built.took.as_secs_f64(),
            }));
            if args.output != Format::Json {
                println!("built {}: {} ({} KiB, {}, {:.1} s)", project.name, built.path.display(), built.bytes / 1024, built.digest, built.took.as_secs_f64());
            }
        }
        if args.output == Format::Json {
            print_json(&serde_json::Value::from(rows));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Where a generated manifest serves the component.
const DEFAULT_ADDRESS: &str = "127.0.0.1:8000";

#[derive(Args)]
pub(crate) struct DevArgs {
    /// The project (or the directory of the manifest to serve).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The manifest to serve (default: DIR/wadm.yaml; without one, a generated manifest serves
    /// the project's component on --address).
    #[arg(long, short = 'm')]
    manifest: Option<PathBuf>,
    /// Where a generated manifest serves the component.
    #[arg(long, default_value = DEFAULT_ADDRESS)]
    address: String,
    /// Also ignore changes to these paths (glob; repeatable). Without `/`, a name anywhere.
    #[arg(long = "ignore", short = 'i', value_name = "GLOB")]
    ignore: Vec<String>,
    /// How long the sources must be quiet before a rebuild.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    debounce_ms: u64,
    #[command(flatten)]
    host: HostArgs,
}

pub(crate) fn dev(mut args: DevArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    if connection.nats.options("").is_none() && args.host.state_dir.is_none() {
        // The project's own: compiled components and keyvalue data carry over between sessions.
        args.host.state_dir = Some(std::path::absolute(&args.dir)?.join(".trellis/dev"));
    }
    let api = crate::up::api_address(connection)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let telemetry = args.host.common.start_telemetry("trellis-dev").await?;
        let outcome = run_dev(args, api, connection).await;
        telemetry.shutdown().await;
        outcome
    })
}

/// One build of every source, as deployed.
struct Generation {
    number: u64,
    /// Per source: the content-addressed copy its image points at.
    images: Vec<PathBuf>,
}

async fn run_dev(args: DevArgs, api: std::net::SocketAddr, connection: &Connection) -> anyhow::Result<ExitCode> {
    let mut workspace = Workspace::load(&args.dir, args.manifest.as_deref(), &args.address)?;
    let builds_dir = args.host.state_dir.clone().unwrap_or_else(std::env::temp_dir).join("builds");
    let watched = std::path::absolute(&args.dir)?;
    let ignore = Ignore::new(&args.ignore)?;
    let mut watch = Watch::start(&watched, ignore, Duration::from_millis(args.debounce_ms))?;

    let started = crate::up::start(&crate::up::UpArgs::embedded(args.host), api, connection).await?;
    let shutdown = crate::node::shutdown_signal();
    tokio::pin!(shutdown);
    eprintln!("watching {} for changes (ignoring {})", watched.display(), watch::IGNORED_DIRS.join(", "));

    let mut serving: Option<Generation> = None;
    let mut next = 1;
    // What changed and is not deployed yet: a source whose build failed stays pending, so its
    // next change (or any other) builds it again.
    let mut pending: BTreeSet<usize> = (0..workspace.sources.len()).collect();
    let mut manifest_pending = false;
    let mut announced = false;
    loop {
        let changed: Vec<usize> = pending.iter().copied().collect();
        let step = rebuild_and_swap(&started, &workspace, &changed, manifest_pending, serving.as_ref(), next, &builds_dir);
        tokio::select! {
            result = step => match result {
                Ok(Step { deployed, failed }) => {
                    manifest_pending &= deployed.is_none() && !failed.is_empty();
                    if let Some(generation) = deployed {
                        serving = Some(generation);
                        next += 1;
                    }
                    pending = failed.into_iter().collect();
                }
                // The deploy failed (the manager's or host's reason is in `e`): everything stays pending.
                Err(e) => match &serving {
                    Some(g) => eprintln!("error: {e:#}\nstill serving build #{}", g.number),
                    None => eprintln!("error: {e:#}\nnothing is serving yet; fix it and save"),
                },
            },
            _ = &mut shutdown => break,
        }
        if !announced {
            println!("Trellis dev is up ({}). Watching for changes; press Ctrl-C to stop.", started.mode);
            announced = true;
        }
        // Wait for the next change to a source or the manifest.
        let batch = tokio::select! {
            batch = watch.next() => batch,
            _ = &mut shutdown => break,
        };
        let Some(batch) = batch else { break };
        let names: Vec<String> = batch.iter().map(|p| p.strip_prefix(&watched).unwrap_or(p).display().to_string()).collect();
        eprintln!("changed: {}", names.join(", "));
        if batch.contains(&workspace.manifest_path) {
            if let Err(e) = workspace.reload() {
                eprintln!("error: {e:#}\nstill serving the last good manifest");
                continue;
            }
            // A changed manifest may name other sources: build them all against it.
            manifest_pending = true;
            pending = (0..workspace.sources.len()).collect();
        }
        let roots = workspace.roots();
        pending.extend(batch.iter().filter_map(|p| watch::owner(p, &roots)));
    }
    eprintln!("stopping: finishing in-flight requests");
    started.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// What one step of the loop did.
struct Step {
    /// The generation deployed, if one was.
    deployed: Option<Generation>,
    /// The sources whose build failed: they stay pending.
    failed: Vec<usize>,
}

/// Builds the sources in `changed`, and deploys them with the builds of the others that
/// `serving` runs. A source whose build fails keeps its serving build (the others deploy
/// without it); with none to keep, nothing deploys.
async fn rebuild_and_swap(
    started: &crate::up::Started,
    workspace: &Workspace,
    changed: &[usize],
    manifest_changed: bool,
    serving: Option<&Generation>,
    number: u64,
    builds_dir: &Path,
) -> anyhow::Result<Step> {
    let mut step = Step { deployed: None, failed: Vec::new() };
    if changed.is_empty() && !manifest_changed {
        return Ok(step);
    }
    let mut images = Vec::with_capacity(workspace.sources.len());
    let mut built: Vec<(&str, Built, Duration)> = Vec::new();
    for (i, source) in workspace.sources.iter().enumerate() {
        // A changed manifest may have reordered its components: nothing of before is reused.
        let previous = serving.and_then(|g| g.images.get(i)).filter(|_| !manifest_changed);
        if let Some(image) = previous.filter(|_| !changed.contains(&i)) {
            images.push(image.clone());
            continue;
        }
        eprintln!("building {} ({})", source.component, source.project.root.display());
        match build_one(started, source, builds_dir).await {
            Ok((image, b, compiled)) => {
                images.push(image);
                built.push((&source.component, b, compiled));
            }
            Err(e) => {
                step.failed.push(i);
                match (previous, serving) {
                    (Some(image), Some(g)) => {
                        eprintln!("error: {e:#}\nstill serving build #{} of {}", g.number, source.component);
                        images.push(image.clone());
                    }
                    _ => eprintln!("error: {e:#}\nnothing is serving {} yet; fix it and save", source.component),
                }
            }
        }
    }
    if images.len() < workspace.sources.len() || built.is_empty() && !manifest_changed {
        return Ok(step);
    }
    if serving.is_some_and(|g| g.images == images) && !manifest_changed {
        eprintln!("the build is the one serving (same digest); nothing to swap");
        return Ok(step);
    }
    let text = workspace.manifest_for(&images, &format!("dev.{}.{number}", session()))?;
    let swap = Instant::now();
    let (app, version) = crate::client::put_text(&started.client, text, &workspace.manifest_path, false).await?;
    started.deploy(&app, &version, &workspace.manifest_path.display().to_string()).await?;
    let swap = swap.elapsed();
    for (component, b, compiled) in &built {
        println!(
            "build #{number} serving: {component} {} ({} KiB; build {:.2} s, compile {:.2} s, swap {:.0} ms)",
            b.digest,
            b.bytes / 1024,
            b.took.as_secs_f64(),
            compiled.as_secs_f64(),
            swap.as_secs_f64() * 1000.0
        );
    }
    prune(builds_dir, &images);
    step.deployed = Some(Generation { number, images });
    Ok(step)
}

/// Deletes the copies of builds that no longer serve (the old version has stopped once the
/// deploy is done), so a long session does not fill the disk with every save's build.
fn prune(builds_dir: &Path, serving: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(builds_dir) else { return };
    for path in entries.flatten().map(|e| e.path()) {
        if !serving.contains(&path) && path.extension().is_some_and(|e| e == "wasm") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Builds one source, keeps a copy of the build named by its digest (the image deployed: the
/// next build never writes to it), and compiles it. Returns the copy, the build, and how long
/// compiling took.
async fn build_one(started: &crate::up::Started, source: &workspace::Source, builds_dir: &Path) -> anyhow::Result<(PathBuf, Built, Duration)> {
    let b = build::build(&source.project).await.with_context(|| format!("build of {} failed", source.component))?;
    let bytes = tokio::fs::read(&b.path).await.with_context(|| format!("reading {}", b.path.display()))?;
    let copy = builds_dir.join(format!("{}-{}.wasm", source.component, b.short_digest()));
    if !copy.is_file() {
        build::place(&bytes, &copy).await?;
    }
    // Compiled here, before the deploy, the host finds it compiled: the swap is then only
    // instantiation and moving routes, whatever the component's size.
    let compiling = Instant::now();
    let runtime = started.runtime().clone();
    let id = source.component.clone();
    tokio::task::spawn_blocking(move || runtime.compile(&id, &bytes))
        .await?
        .with_context(|| format!("{} built, but is not a valid component", source.component))?;
    Ok((copy, b, compiling.elapsed()))
}

/// This process's start, in seconds: dev versions of one session sort together and never
/// collide with an earlier session's in the same state directory.
fn session() -> u64 {
    static START: std::sync::LazyLock<u64> =
        std::sync::LazyLock::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    *START
}
