//! What every proxy of one world shares about the mesh: the compiled engine, how each virtual
//! node is discovered, and which port each virtual service listens on.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::config::model::{Mesh, Protocol, Provider, ServiceDiscovery};
use crate::engine::Engine;
use crate::engine::defaults::EnvoyDefaults;
use crate::engine::extensions::SidecarExtensions;

/// The mesh as the proxies use it.
#[derive(Debug)]
pub struct MeshView {
    /// The engine; a `RefCell` because rollouts change route weights while the world runs.
    pub engine: RefCell<Engine>,
    /// Each virtual node's service discovery.
    pub discovery: BTreeMap<String, Option<ServiceDiscovery>>,
    /// Each virtual service's port and protocol: its router's first listener, or its
    /// provider node's first listener.
    pub service_ports: BTreeMap<String, (u16, Protocol)>,
    /// Extensions App Mesh lacked, per virtual node (a scenario's `sidecars:`); a node not
    /// listed runs none.
    pub extensions: BTreeMap<String, SidecarExtensions>,
}

impl MeshView {
    /// Compiles a validated mesh whose Envoys run with `defaults`.
    pub fn new(mesh: &Mesh, defaults: EnvoyDefaults) -> MeshView {
        let discovery = mesh
            .virtual_nodes
            .iter()
            .map(|(name, n)| (name.clone(), n.spec.service_discovery.clone()))
            .collect();
        let mut service_ports = BTreeMap::new();
        for (name, vs) in &mesh.virtual_services {
            let port = match &vs.spec.provider {
                Some(Provider::VirtualRouter(r)) => mesh
                    .virtual_routers
                    .get(&r.value)
                    .and_then(|r| r.spec.listeners.first())
                    .map(|p| (p.port, p.protocol)),
                Some(Provider::VirtualNode(n)) => mesh
                    .virtual_nodes
                    .get(&n.value)
                    .and_then(|n| n.spec.listeners.first())
                    .map(|l| (l.port_mapping.port, l.port_mapping.protocol)),
                None => None,
            };
            if let Some(p) = port {
                service_ports.insert(name.clone(), p);
            }
        }
        MeshView {
            engine: RefCell::new(Engine::with_defaults(mesh, defaults)),
            discovery,
            service_ports,
            extensions: BTreeMap::new(),
        }
    }

    /// The extensions a virtual node's sidecars run (none when it is not listed).
    pub fn extensions(&self, node: &str) -> SidecarExtensions {
        self.extensions.get(node).copied().unwrap_or_default()
    }

    /// The port and protocol a client uses for `service` (80/http when the mesh has none).
    pub fn service_port(&self, service: &str) -> (u16, Protocol) {
        self.service_ports
            .get(service)
            .copied()
            .unwrap_or((80, Protocol::Http))
    }
}
