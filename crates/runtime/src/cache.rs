//! The compiled-artifact cache: a component compiled once is not compiled again, across restarts.
//!
//! The key is the sha256 of the component's bytes plus a hash of everything that makes compiled
//! code incompatible (wasmtime's own compatibility hash: version, target, tunables, features),
//! so an upgrade or a config change misses instead of loading wrong code.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// Compiled now (and written to the cache if there is one).
    Compiled,
    /// Loaded from the cache; no compilation happened.
    Cache,
    /// Already in memory for another deployment of the same bytes: the code is shared.
    Memory,
}

/// The sha256 of a component's bytes: what the memo and the cache are keyed by.
pub(crate) type Digest = [u8; 32];

pub(crate) fn digest(wasm: &[u8]) -> Digest {
    Sha256::digest(wasm).into()
}

/// How many distinct components the memo keeps loaded after nothing asks for them. Evicting one
/// costs only sharing (the next load maps the cached file again), never correctness.
const MEMO_CAPACITY: usize = 256;

/// Components already loaded, by digest, so a thousand apps deploying the same bytes share one
/// copy of the code, and deploying them at once compiles once: the first load of a digest holds
/// that digest's slot while it compiles and the others wait for it instead of compiling too.
#[derive(Default)]
pub(crate) struct Memo {
    slots: Mutex<MemoSlots>,
}

#[derive(Default)]
struct MemoSlots {
    by_digest: HashMap<Digest, Arc<Mutex<Option<Component>>>>,
    /// Insertion order, for eviction.
    order: VecDeque<Digest>,
}

impl Memo {
    /// The component for `digest`, loading it with `load` if no other caller has. Blocks while
    /// another caller loads the same digest; a failed load leaves the slot empty for a retry.
    pub(crate) fn get_or_load(
        &self,
        digest: Digest,
        load: impl FnOnce() -> anyhow::Result<(Component, LoadedFrom)>,
    ) -> anyhow::Result<(Component, LoadedFrom)> {
        let slot = {
            let mut slots = self.slots.lock().expect("component memo poisoned");
            let slots = &mut *slots;
            match slots.by_digest.get(&digest) {
                Some(slot) => slot.clone(),
                None => {
                    if slots.order.len() >= MEMO_CAPACITY
                        && let Some(oldest) = slots.order.pop_front()
                    {
                        slots.by_digest.remove(&oldest);
                    }
                    slots.order.push_back(digest);
                    slots.by_digest.entry(digest).or_default().clone()
                }
            }
        };
        let mut loaded = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(component) = &*loaded {
            return Ok((component.clone(), LoadedFrom::Memory));
        }
        let (component, from) = load()?;
        *loaded = Some(component.clone());
        Ok((component, from))
    }
}

pub(crate) struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompiledCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> CompiledCache {
        // DefaultHasher::new() has fixed keys, so the value is stable from run to run.
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        CompiledCache { dir, engine_key: format!("{:016x}", h.finish()) }
    }

    fn path_for(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_key))
    }

    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        id: &str,
        wasm: &[u8],
        digest: &Digest,
    ) -> anyhow::Result<(Component, LoadedFrom)> {
        let path = self.path_for(digest);
        if path.exists() {
            // SAFETY: the file was written by `store` below from `Component::serialize` for an
            // engine with the same compatibility hash (it is in the name), into a directory
            // that belongs to this Trellis state dir. wasmtime still checks the header and
            // fails cleanly on a mismatch, which we treat as a miss.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    tracing::info!(component = id, path = %path.display(), "loaded compiled component from cache");
                    return Ok((component, LoadedFrom::Cache));
                }
                Err(e) => {
                    tracing::warn!(component = id, path = %path.display(), error = %e, "discarding unusable cache entry");
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::from_binary(engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling component `{id}`"))?;
        tracing::info!(component = id, elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");
        if let Err(e) = store(&path, &component) {
            // A read-only or full disk costs a recompile next time; it must not fail the start.
            tracing::warn!(component = id, path = %path.display(), error = %e, "could not cache compiled component");
        }
        Ok((component, LoadedFrom::Compiled))
    }
}

/// Writes atomically (temp file + rename) so a crash never leaves a torn entry behind.
fn store(path: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
