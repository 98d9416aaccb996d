//! Building the world from a scenario: one turmoil host per task (its sidecar and app), one
//! per virtual gateway the users enter through, and the load generator.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::SimError;
use super::ledger::UserLedger;
use super::loadgen::{Entry, LoadGen};
use crate::app::{App, Databases};
use crate::config::model::{Mesh, Protocol, ServiceDiscovery};
use crate::engine::breaker::{ConnectionPoolLimits, ListenerPool};
use crate::engine::discovery::{Instance, Registration, Registry};
use crate::engine::ratelimit::LocalRateLimiter;
use crate::engine::{SimTime, seed};
use crate::metrics::Recorder;
use crate::model::fault::Effects;
use crate::model::service::ServiceConfig;
use crate::proxy::control::RouteOverrides;
use crate::proxy::health::GRPC_HEALTH_CHECK_PATH;
use crate::proxy::pool::HttpVersion;
use crate::proxy::{Identity, Inbound, MeshView, Shared, Sidecar, Telemetry, gateway, wire};
use crate::scenario::Scenario;

/// The fixed epoch of every world (2026-01-01T00:00:00Z): `since_epoch` must not read the
/// wall clock.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// The load generator's host name, and its sidecar's node and task name when it has one.
pub const LOADGEN: &str = "loadgen";

/// One task of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// turmoil host name (`<node>-<n>`).
    pub host: String,
    /// Virtual node.
    pub node: String,
    /// Version label.
    pub version: String,
    /// The scenario's service it runs (a key under `services:`): every version of one
    /// service shares it, so reports can put `order-v1` and `order-v2` side by side.
    pub service: String,
    /// When it starts.
    pub start: Duration,
    /// When it stops, if it does.
    pub stop: Option<Duration>,
}

/// Everything a built world holds besides the turmoil simulation itself.
#[derive(Debug)]
pub struct WorldState {
    /// Service discovery.
    pub registry: Rc<RefCell<Registry>>,
    /// Proxy access logs and counters.
    pub telemetry: Rc<RefCell<Telemetry>>,
    /// The users' ledger.
    pub ledger: Rc<RefCell<UserLedger>>,
    /// Latency histograms and counters.
    pub recorder: Rc<RefCell<Recorder>>,
    /// The Ordering app's databases.
    pub databases: Rc<RefCell<Databases>>,
    /// Every task.
    pub tasks: Vec<TaskInfo>,
    /// Gateway hosts.
    pub gateways: Vec<String>,
    /// The load generator's own sidecar (its task name), when the users call a virtual
    /// service rather than a gateway: a proxy the control plane configures like any other.
    pub client_sidecar: Option<String>,
    /// The seed in force.
    pub seed: u64,
    /// Arrivals stop here.
    pub duration: Duration,
    /// Faults in force at each task, read by apps and sidecars.
    pub effects: Rc<RefCell<Effects>>,
    /// Route changes sent to each proxy (a rollout's), read by the proxies.
    pub control: Rc<RefCell<RouteOverrides>>,
}

/// Builds the world. `duration` and `seed` are the values in force (after overrides).
pub fn build<'a>(
    scenario: &Scenario,
    mesh: &Mesh,
    seed: u64,
    duration: Duration,
) -> Result<(turmoil::Sim<'a>, WorldState), SimError> {
    let workload = scenario
        .workload
        .build()
        .map_err(|e| SimError::Invalid(format!("workload: {}", join(&e))))?;
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed::derive(seed, "turmoil"))
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .tick_duration(scenario.network.tick)
        .min_message_latency(scenario.network.latency)
        .max_message_latency(scenario.network.latency + scenario.network.jitter)
        .tcp_capacity(1024)
        .simulation_duration(duration + workload.timeout() + Duration::from_secs(3600));
    let mut sim = builder.build();

    let mut view = MeshView::new(mesh, scenario.mesh.envoy_defaults);
    view.extensions = scenario.sidecars.clone();
    let view = Rc::new(view);
    let registry = Rc::new(RefCell::new(Registry::new(
        scenario.discovery.propagation_delay,
    )));
    let telemetry = Rc::new(RefCell::new(Telemetry::default()));
    let effects = Rc::new(RefCell::new(Effects::default()));
    let control = Rc::new(RefCell::new(RouteOverrides::default()));
    let shared = Shared {
        mesh: Rc::clone(&view),
        registry: Rc::clone(&registry),
        telemetry: Rc::clone(&telemetry),
        effects: Rc::clone(&effects),
        control: Rc::clone(&control),
    };
    let databases = Rc::new(RefCell::new(Databases::new(&scenario.ordering.catalog)));
    let recorder = Rc::new(RefCell::new(Recorder::new(scenario.metrics.interval)));
    let ledger = Rc::new(RefCell::new(UserLedger::default()));

    let mut tasks = Vec::new();
    let mut index = 0u32;
    for spec in &scenario.tasks {
        let config = scenario
            .services
            .get(&spec.service)
            .ok_or_else(|| SimError::Invalid(format!("no service `{}`", spec.service)))?;
        config
            .build()
            .map_err(|e| SimError::Invalid(format!("services.{}: {}", spec.service, join(&e))))?;
        let node = mesh
            .virtual_nodes
            .get(&spec.node)
            .ok_or_else(|| SimError::Invalid(format!("no virtual node `{}`", spec.node)))?;
        let version = spec.version_in(mesh);
        for n in 1..=spec.replicas {
            index += 1;
            let task = TaskInfo {
                host: format!("{}-{n}", spec.node),
                node: spec.node.clone(),
                version: version.clone(),
                service: spec.service.clone(),
                start: spec.start,
                stop: spec.stop,
            };
            let host = TaskHost {
                task: task.clone(),
                config: config.clone(),
                shared: shared.clone(),
                databases: Rc::clone(&databases),
                discovery: node.spec.service_discovery.clone(),
                listeners: node
                    .spec
                    .listeners
                    .iter()
                    .map(|l| (l.port_mapping.port, l.port_mapping.protocol))
                    .collect(),
                health_paths: node
                    .spec
                    .listeners
                    .iter()
                    .filter_map(|l| l.health_check.as_ref())
                    .filter_map(|h| match h.protocol {
                        Protocol::Grpc => Some(GRPC_HEALTH_CHECK_PATH.to_string()),
                        Protocol::Tcp => None,
                        Protocol::Http | Protocol::Http2 => h.path.clone(),
                    })
                    .collect(),
                seed,
                index,
            };
            sim.host(task.host.as_str(), move || host.clone().run());
            tasks.push(task);
        }
    }

    let mut gateways = Vec::new();
    let mut client_sidecar = None;
    let entry = match mesh.virtual_gateways.get(workload.target()) {
        Some(gw) => {
            let name = workload.target().to_string();
            // A gateway's Envoy takes the same defaults as the sidecars' (App Mesh's, or
            // Envoy's own for meshes before 2020-07-29), its `connectionPool` over them.
            let defaults = scenario.mesh.envoy_defaults.pool_limits();
            let listeners: Vec<(u16, Protocol, ConnectionPoolLimits)> = gw
                .spec
                .listeners
                .iter()
                .map(|l| {
                    (
                        l.port_mapping.port,
                        l.port_mapping.protocol,
                        defaults.with_pool(l.connection_pool.as_ref()),
                    )
                })
                .collect();
            let (port, protocol) = listeners
                .first()
                .map_or((80, Protocol::Http), |(port, protocol, _)| {
                    (*port, *protocol)
                });
            index += 1;
            let host = GatewayHost {
                name: name.clone(),
                listeners,
                shared: shared.clone(),
                seed,
                index,
            };
            sim.host(name.as_str(), move || host.clone().run());
            gateways.push(name.clone());
            Entry::Gateway {
                host: name,
                port,
                version: match protocol {
                    Protocol::Http2 | Protocol::Grpc => HttpVersion::Http2,
                    Protocol::Http | Protocol::Tcp => HttpVersion::Http1,
                },
            }
        }
        None => {
            index += 1;
            let identity = Identity {
                node: LOADGEN.into(),
                task: LOADGEN.into(),
                version: String::new(),
            };
            client_sidecar = Some(identity.task.clone());
            Entry::Service {
                service: workload.target().to_string(),
                sidecar: Rc::new(Sidecar::new(identity, shared.clone(), seed, index)),
            }
        }
    };
    let loadgen = LoadGen {
        workload: Rc::new(workload),
        entry,
        ledger: Rc::clone(&ledger),
        recorder: Rc::clone(&recorder),
        telemetry: Rc::clone(&telemetry),
        seed,
        until: SimTime::from_duration(duration),
    };
    sim.client(LOADGEN, loadgen.run());

    Ok((
        sim,
        WorldState {
            registry,
            telemetry,
            ledger,
            recorder,
            databases,
            tasks,
            gateways,
            client_sidecar,
            seed,
            duration,
            effects,
            control,
        },
    ))
}

fn join(errors: &[crate::model::ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `version` attribute a Cloud Map node selects on, if any.
/// A task's host: its sidecar's listeners and its app.
#[derive(Clone, Debug)]
struct TaskHost {
    task: TaskInfo,
    config: ServiceConfig,
    shared: Shared,
    databases: Rc<RefCell<Databases>>,
    discovery: Option<ServiceDiscovery>,
    listeners: Vec<(u16, Protocol)>,
    health_paths: Vec<String>,
    seed: u64,
    index: u32,
}

impl TaskHost {
    async fn run(self) -> turmoil::Result {
        wire::sleep_until(SimTime::from_duration(self.task.start)).await;
        let identity = Identity {
            node: self.task.node.clone(),
            task: self.task.host.clone(),
            version: self.task.version.clone(),
        };
        let sidecar = Rc::new(Sidecar::new(
            identity,
            self.shared.clone(),
            self.seed,
            self.index,
        ));
        let service = self
            .config
            .build()
            .map_err(|_| "service config no longer builds")?;
        let app = Rc::new(App::new(
            &self.config,
            service,
            Rc::clone(&sidecar),
            Rc::clone(&self.databases),
            self.seed,
            self.health_paths.clone(),
        ));
        let mut serving = Vec::new();
        for &(port, protocol) in &self.listeners {
            let (pool, timeout, idle) = {
                let engine = self.shared.mesh.engine.borrow();
                match engine.listener(&self.task.node, Some(port)) {
                    Some(l) => (
                        Some(ListenerPool::new(protocol, l.connection_pool)),
                        l.per_request_timeout,
                        l.idle_timeout,
                    ),
                    None => (None, None, None),
                }
            };
            let mut inbound = Inbound::new(
                port,
                protocol,
                pool,
                timeout,
                Rc::clone(&sidecar),
                match protocol {
                    Protocol::Grpc => crate::app::grpc::serve(app.handler()),
                    _ => app.handler(),
                },
                Rc::clone(&self.shared.telemetry),
            )
            .with_idle_timeout(idle);
            // Each Envoy has its own bucket, full when the task starts.
            let rate_limit = self
                .shared
                .mesh
                .extensions(&self.task.node)
                .rate_limit
                .filter(|_| protocol != Protocol::Tcp);
            if let Some(config) = rate_limit {
                let limiter = LocalRateLimiter::new(config, wire::now())
                    .map_err(|e| format!("rate limit of {}: {e}", self.task.node))?;
                let stream = format!("ratelimit/{}/{port}", self.task.host);
                inbound = inbound.with_rate_limit(limiter, seed::stream(self.seed, &stream));
            }
            let inbound = Rc::new(inbound);
            serving.push(tokio::task::spawn_local(inbound.serve()));
        }
        register(&self, wire::now());
        for s in serving {
            s.await??;
        }
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// Registers a task with service discovery the way its virtual node is discovered.
fn register(host: &TaskHost, now: SimTime) {
    let Some(sd) = &host.discovery else {
        return;
    };
    let Some(&(port, _)) = host.listeners.first() else {
        return;
    };
    let (registration, mut attributes) = match sd {
        ServiceDiscovery::CloudMap {
            namespace_name,
            service_name,
            attributes,
            ..
        } => (
            Registration::CloudMap {
                namespace: namespace_name.clone(),
                service: service_name.clone(),
            },
            attributes.iter().cloned().collect::<BTreeMap<_, _>>(),
        ),
        ServiceDiscovery::Dns { hostname, .. } => (
            Registration::Dns {
                hostname: hostname.clone(),
            },
            BTreeMap::new(),
        ),
    };
    attributes
        .entry("version".into())
        .or_insert_with(|| host.task.version.clone());
    let instance = Instance {
        id: host.task.host.clone(),
        address: host.task.host.clone(),
        port,
        registration,
        attributes,
    };
    let mut registry = host.shared.registry.borrow_mut();
    registry.register(now, instance);
}

/// A virtual gateway's host: its Envoy's listeners (port, protocol, `connectionPool`).
#[derive(Clone, Debug)]
struct GatewayHost {
    name: String,
    listeners: Vec<(u16, Protocol, ConnectionPoolLimits)>,
    shared: Shared,
    seed: u64,
    index: u32,
}

impl GatewayHost {
    async fn run(self) -> turmoil::Result {
        let identity = Identity {
            node: self.name.clone(),
            task: self.name.clone(),
            version: String::new(),
        };
        let sidecar = Rc::new(Sidecar::new(
            identity,
            self.shared.clone(),
            self.seed,
            self.index,
        ));
        let mut serving = Vec::new();
        for &(port, protocol, limits) in &self.listeners {
            let handler = gateway::handler(
                self.name.clone(),
                port,
                Rc::clone(&sidecar),
                Rc::clone(&self.shared.mesh),
            );
            // The gateway listener's `connectionPool` is enforced as a node listener's is
            // (engine::breaker): in flight and queued requests through this Envoy, overflow
            // answered 503 `UO`; unset, the defaults' limits.
            let inbound = Rc::new(Inbound::new(
                port,
                protocol,
                Some(ListenerPool::new(protocol, limits)),
                None,
                Rc::clone(&sidecar),
                handler,
                Rc::clone(&self.shared.telemetry),
            ));
            serving.push(tokio::task::spawn_local(inbound.serve()));
        }
        for s in serving {
            s.await??;
        }
        std::future::pending::<()>().await;
        Ok(())
    }
}
