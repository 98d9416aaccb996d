//! The App Mesh resource model (API version 2019-01-25), typed.
//!
//! All three input syntaxes decode into these types, so everything downstream (validation,
//! the engine, `show`) sees one model. Durations are `std::time::Duration`; references to
//! other resources are [`Located`] so errors can point at the reference, while equality
//! ignores locations.

pub mod common;
pub mod gateway;
pub mod node;
pub mod route;

use std::collections::BTreeMap;
use std::fmt;

pub use common::*;
pub use gateway::*;
pub use node::*;
pub use route::*;

use super::source::{Loc, Located};

/// `egressFilter.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EgressFilter {
    /// Any destination.
    AllowAll,
    /// Only declared backends (and `*.amazonaws.com`); App Mesh's default.
    #[default]
    DropAll,
}

/// `MeshSpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeshSpec {
    /// Egress filter; DROP_ALL when unset.
    pub egress_filter: EgressFilter,
    /// `serviceDiscovery.ipPreference`.
    pub ip_preference: Option<IpPreference>,
}

/// `VirtualServiceSpec.provider`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Traffic goes straight to this node.
    VirtualNode(Located<String>),
    /// Traffic is matched against this router's routes.
    VirtualRouter(Located<String>),
}

/// `VirtualServiceSpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualServiceSpec {
    /// `None`: requests to the service fail.
    pub provider: Option<Provider>,
}

/// The kinds of App Mesh resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// `Mesh`.
    Mesh,
    /// `VirtualService`.
    VirtualService,
    /// `VirtualNode`.
    VirtualNode,
    /// `VirtualRouter`.
    VirtualRouter,
    /// `Route`.
    Route,
    /// `VirtualGateway`.
    VirtualGateway,
    /// `GatewayRoute`.
    GatewayRoute,
}

impl ResourceKind {
    /// All kinds, in the order summaries list them.
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::Mesh,
        ResourceKind::VirtualService,
        ResourceKind::VirtualNode,
        ResourceKind::VirtualRouter,
        ResourceKind::Route,
        ResourceKind::VirtualGateway,
        ResourceKind::GatewayRoute,
    ];

    /// The API's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Mesh => "Mesh",
            ResourceKind::VirtualService => "VirtualService",
            ResourceKind::VirtualNode => "VirtualNode",
            ResourceKind::VirtualRouter => "VirtualRouter",
            ResourceKind::Route => "Route",
            ResourceKind::VirtualGateway => "VirtualGateway",
            ResourceKind::GatewayRoute => "GatewayRoute",
        }
    }

    /// Words for summaries: ("virtual node", "virtual nodes").
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            ResourceKind::Mesh => ("mesh", "meshes"),
            ResourceKind::VirtualService => ("virtual service", "virtual services"),
            ResourceKind::VirtualNode => ("virtual node", "virtual nodes"),
            ResourceKind::VirtualRouter => ("virtual router", "virtual routers"),
            ResourceKind::Route => ("route", "routes"),
            ResourceKind::VirtualGateway => ("virtual gateway", "virtual gateways"),
            ResourceKind::GatewayRoute => ("gateway route", "gateway routes"),
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named resource of one mesh, with where it was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource<S> {
    /// The App Mesh name.
    pub name: String,
    /// The spec.
    pub spec: S,
    /// Where the resource was defined (for diagnostics; ignored by equality).
    pub at: Located<()>,
}

impl<S> Resource<S> {
    /// Where the resource was defined.
    pub fn loc(&self) -> &Loc {
        &self.at.at
    }
}

/// A route, which belongs to a virtual router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteResource {
    /// `virtualRouterName`.
    pub virtual_router: Located<String>,
    /// `routeName` and spec.
    pub route: Resource<RouteSpec>,
}

/// A gateway route, which belongs to a virtual gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRouteResource {
    /// `virtualGatewayName`.
    pub virtual_gateway: Located<String>,
    /// `gatewayRouteName` and spec.
    pub route: Resource<GatewayRouteSpec>,
}

/// One mesh: every resource loaded for it, keyed by name (routes by router, then name).
///
/// Ordered maps keep every iteration, and so every output, independent of load order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mesh {
    /// The mesh name.
    pub name: String,
    /// The mesh spec (App Mesh defaults when no Mesh resource was given).
    pub spec: MeshSpec,
    /// Whether a Mesh resource was among the inputs.
    pub declared: bool,
    /// Virtual services by name.
    pub virtual_services: BTreeMap<String, Resource<VirtualServiceSpec>>,
    /// Virtual nodes by name.
    pub virtual_nodes: BTreeMap<String, Resource<VirtualNodeSpec>>,
    /// Virtual routers by name.
    pub virtual_routers: BTreeMap<String, Resource<VirtualRouterSpec>>,
    /// Routes by (router, route name).
    pub routes: BTreeMap<(String, String), RouteResource>,
    /// Virtual gateways by name.
    pub virtual_gateways: BTreeMap<String, Resource<VirtualGatewaySpec>>,
    /// Gateway routes by (gateway, route name).
    pub gateway_routes: BTreeMap<(String, String), GatewayRouteResource>,
}

impl Mesh {
    /// An empty mesh with App Mesh's default spec.
    pub fn named(name: impl Into<String>) -> Self {
        Mesh {
            name: name.into(),
            ..Mesh::default()
        }
    }

    /// How many resources of a kind the mesh holds.
    pub fn count(&self, kind: ResourceKind) -> usize {
        match kind {
            ResourceKind::Mesh => usize::from(self.declared),
            ResourceKind::VirtualService => self.virtual_services.len(),
            ResourceKind::VirtualNode => self.virtual_nodes.len(),
            ResourceKind::VirtualRouter => self.virtual_routers.len(),
            ResourceKind::Route => self.routes.len(),
            ResourceKind::VirtualGateway => self.virtual_gateways.len(),
            ResourceKind::GatewayRoute => self.gateway_routes.len(),
        }
    }

    /// The routes of one router, in key order.
    pub fn routes_of<'a>(
        &'a self,
        router: &'a str,
    ) -> impl Iterator<Item = &'a RouteResource> + 'a {
        self.routes
            .range((router.to_string(), String::new())..)
            .take_while(move |((r, _), _)| r == router)
            .map(|(_, v)| v)
    }

    /// The gateway routes of one gateway, in key order.
    pub fn gateway_routes_of<'a>(
        &'a self,
        gateway: &'a str,
    ) -> impl Iterator<Item = &'a GatewayRouteResource> + 'a {
        self.gateway_routes
            .range((gateway.to_string(), String::new())..)
            .take_while(move |((g, _), _)| g == gateway)
            .map(|(_, v)| v)
    }
}
