//! The process-wide engine: configuration, allocation strategy and the epoch ticker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{self, CompiledCache, LoadedFrom, Memo};
use crate::component::PreparedComponent;
use crate::limits::Limits;
use crate::state::{Grants, InvocationState};

/// How often the epoch advances. Guests yield to the executor at every tick, so a busy loop
/// cannot starve other requests on a small machine, and deadlines are enforced to within a tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each linear-memory slot kept resident between instances (see `engine_config`).
/// Covers the shadow stack and early heap of typical Rust, Go and JS guests; only slots that
/// were used hold memory, so the cost is bounded by peak concurrency, not by the pool size.
const KEEP_RESIDENT: usize = 4 << 20;

/// Host-wide settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Defaults for every component; a manifest may set its own per component.
    pub limits: Limits,
    /// Concurrent instances the pooling allocator reserves room for, across all components.
    pub max_instances: u32,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator when the machine allows it.
    pub pooling: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { limits: Limits::default(), max_instances: 1000, cache_dir: None, pooling: true }
    }
}

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Slots reserved up front; instantiation is a few page-table operations.
    Pooling,
    /// Memory mapped per instance, used when the pool's address space cannot be reserved.
    OnDemand,
}

/// The runtime shared by every component of a process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    allocation: Allocation,
    limits: Limits,
    cache: Option<CompiledCache>,
    loaded: Memo,
    ticker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Runtime {
    /// Builds the engine (pooling if possible, with one warning if not) and starts the ticker.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let (engine, allocation) = if config.pooling {
            match Engine::new(&engine_config(&config, true)) {
                Ok(engine) => (engine, Allocation::Pooling),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "cannot reserve address space for the pooling allocator \
                         ({} instances of up to {} bytes); falling back to on-demand allocation",
                        config.max_instances,
                        config.limits.max_linear_memory_bytes,
                    );
                    (Engine::new(&engine_config(&config, false))?, Allocation::OnDemand)
                }
            }
        } else {
            (Engine::new(&engine_config(&config, false))?, Allocation::OnDemand)
        };
        let cache = config.cache_dir.map(|dir| CompiledCache::new(dir, &engine));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new().name("trellis-epoch".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                allocation,
                limits: config.limits,
                cache,
                loaded: Memo::default(),
                ticker: Some(ticker),
                stop,
            }),
        })
    }

    /// The engine every component is compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Which allocator is in use.
    pub fn allocation(&self) -> Allocation {
        self.inner.allocation
    }

    /// The host-wide default limits.
    pub fn default_limits(&self) -> Limits {
        self.inner.limits
    }

    /// A linker with WASI 0.2 and `wasi:http` types; capabilities add their interfaces to it.
    pub fn linker(&self) -> anyhow::Result<Linker<InvocationState>> {
        let mut linker = Linker::new(&self.inner.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Ok(linker)
    }

    /// Compiles `wasm` for the engine, or shares the copy already loaded, or loads it from the
    /// cache. Blocking: call it off the async executor.
    pub fn compile(&self, id: &str, wasm: &[u8]) -> anyhow::Result<(Component, LoadedFrom)> {
        let digest = cache::digest(wasm);
        let loaded = self.inner.loaded.get_or_load(digest, || match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, id, wasm, &digest),
            None => Ok((Component::from_binary(&self.inner.engine, wasm)?, LoadedFrom::Compiled)),
        });
        if let Ok((_, from)) = &loaded {
            crate::telemetry::loaded(*from);
        }
        loaded
    }

    /// Prepares a component: links it, pre-instantiates it, and caps its concurrency.
    ///
    /// `linker` holds what the component's links grant and `grants` says which interfaces
    /// those are and how to make their per-invocation state. Imports nobody provides are
    /// linked to traps, so the component starts and only a call that reaches such an import
    /// fails, naming it.
    pub fn prepare(
        &self,
        id: &str,
        component: &Component,
        linker: &mut Linker<InvocationState>,
        grants: Grants,
        limits: Limits,
        max_concurrency: u32,
    ) -> anyhow::Result<PreparedComponent> {
        grants.apply_adapters(linker, &self.inner.engine, component)?;
        crate::imports::deny_unlinked(linker, &self.inner.engine, component, &grants.interfaces)?;
        let pre = linker.instantiate_pre(component)?;
        Ok(PreparedComponent::new(id, pre, limits.capped_by(self.inner.limits), max_concurrency, grants))
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true).epoch_interruption(true).parallel_compilation(true);
    if pooling {
        let memory = usize::try_from(config.limits.max_linear_memory_bytes).unwrap_or(usize::MAX);
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .total_gc_heaps(n)
            .max_memory_size(memory)
            .max_component_instance_size(1 << 20)
            .max_core_instances_per_component(50)
            .max_memories_per_component(32)
            .max_tables_per_component(32)
            .table_elements(20_000)
            // Resetting a slot with `madvise` costs a TLB shootdown (an IPI to every core running
            // this process) and the next instance then takes copy-on-write faults, each another
            // shootdown: measured at ~30% of a hello-world request's CPU. With PAGEMAP_SCAN
            // (Linux 6.7+) wasmtime finds the pages a request dirtied and restores just those
            // with memset, up to this many bytes, so a reused slot stays resident and clean.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            // What still needs `madvise` is batched: one shootdown per batch, not per slot.
            .decommit_batch_size(16);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}
