//! Target profiles: what each replacement for App Mesh does by default and what it can express.
//!
//! Every value is a [`Fact`]: the value, where it was read ([`Fact::source`], in the short
//! names of the project's notes, `migration-targets.md`), and how sure that source is
//! ([`Certainty`]). The translator ([`super::translate`]) reads these facts to decide what an
//! App Mesh field becomes and to word the loss report, so the report cites the same source as
//! the profile. Short names used in sources:
//!
//! | short name | what it is |
//! |---|---|
//! | AM-API | `aws/aws-app-mesh-roadmap:appmesh-preview/service-model.json` (App Mesh API model) |
//! | UG:`file` | `awsdocs/aws-app-mesh-user-guide:doc_source/<file>.md` |
//! | VS-proto, DR-proto | `istio/api:networking/v1alpha3/virtual_service.proto`, `…/destination_rule.proto` |
//! | GW-HTTP, GW-SHARED | `kubernetes-sigs/gateway-api:apis/v1/httproute_types.go`, `…/shared_types.go` |
//! | LAT-CTL:`path` | `aws/aws-application-networking-k8s:<path>` v2.1.3 (AWS Gateway API Controller for VPC Lattice) |
//! | API_`X` | the ECS or VPC Lattice API reference page of `X` |
//!
//! A profile describes the target as it behaves when the translated configuration is applied:
//! Lattice as the AWS Gateway API Controller builds it (the notes' §6), Istio in sidecar mode
//! (§3), Gateway API as the specification fixes it, leaving implementation-defined what it
//! leaves (§4.8).

use std::fmt;
use std::time::Duration;

/// How sure a fact's source is (the notes' markers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Certainty {
    /// Read in a primary source (API model, vendor documentation, source code).
    Documented,
    /// Said by a user in an issue, not by the vendor.
    UserReport,
    /// A summary of a primary page whose full text was not read.
    ThirdParty,
    /// Follows from cited facts but was not observed.
    Inference,
    /// Not confirmed in any primary source.
    Unverified,
}

impl Certainty {
    /// The notes' marker, empty for documented facts.
    pub fn marker(self) -> &'static str {
        match self {
            Certainty::Documented => "",
            Certainty::UserReport => " (user report)",
            Certainty::ThirdParty => " (third-party report)",
            Certainty::Inference => " (inference)",
            Certainty::Unverified => " (unverified)",
        }
    }
}

/// A value with its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact<T> {
    /// The value.
    pub value: T,
    /// Where it was read (URL, `repo:path`, or a short name of the notes).
    pub source: &'static str,
    /// How sure the source is.
    pub certainty: Certainty,
}

/// A documented fact.
const fn doc<T>(value: T, source: &'static str) -> Fact<T> {
    Fact {
        value,
        source,
        certainty: Certainty::Documented,
    }
}

/// A fact with a weaker marker.
const fn marked<T>(value: T, source: &'static str, certainty: Certainty) -> Fact<T> {
    Fact {
        value,
        source,
        certainty,
    }
}

/// The replacements for App Mesh the notes describe, and App Mesh itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// App Mesh in an account with no mesh before 2020-07-29: App Mesh's Envoy defaults.
    AppMesh,
    /// App Mesh in an account that had a mesh before 2020-07-29: Envoy's own defaults.
    AppMeshPre2020,
    /// Istio, sidecar mode.
    Istio,
    /// The Kubernetes Gateway API (HTTPRoute, GAMMA mesh attachment), as specified.
    GatewayApi,
    /// Amazon ECS Service Connect.
    ServiceConnect,
    /// Amazon VPC Lattice, through the AWS Gateway API Controller.
    Lattice,
    /// Linkerd (notes §7; profile only, no writer).
    Linkerd,
}

impl Target {
    /// Every target, in the order reports list them.
    pub const ALL: [Target; 7] = [
        Target::AppMesh,
        Target::AppMeshPre2020,
        Target::Istio,
        Target::GatewayApi,
        Target::ServiceConnect,
        Target::Lattice,
        Target::Linkerd,
    ];

    /// The command line's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::AppMesh => "appmesh",
            Target::AppMeshPre2020 => "appmesh-pre-2020",
            Target::Istio => "istio",
            Target::GatewayApi => "gateway-api",
            Target::ServiceConnect => "service-connect",
            Target::Lattice => "lattice",
            Target::Linkerd => "linkerd",
        }
    }

    /// The product's name, for sentences.
    pub fn title(self) -> &'static str {
        match self {
            Target::AppMesh => "App Mesh",
            Target::AppMeshPre2020 => "App Mesh (account with a mesh before 2020-07-29)",
            Target::Istio => "Istio",
            Target::GatewayApi => "Gateway API",
            Target::ServiceConnect => "Service Connect",
            Target::Lattice => "Lattice",
            Target::Linkerd => "Linkerd",
        }
    }

    /// The target's profile.
    pub fn profile(self) -> &'static Profile {
        match self {
            Target::AppMesh => &APP_MESH,
            Target::AppMeshPre2020 => &APP_MESH_PRE_2020,
            Target::Istio => &ISTIO,
            Target::GatewayApi => &GATEWAY_API,
            Target::ServiceConnect => &SERVICE_CONNECT,
            Target::Lattice => &LATTICE,
            Target::Linkerd => &LINKERD,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition a retry policy retries on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOn {
    /// One HTTP status.
    Status(u16),
    /// Connection could not be made.
    ConnectFailure,
    /// HTTP/2 REFUSED_STREAM.
    RefusedStream,
    /// Upstream reset (no response).
    Reset,
    /// gRPC status UNAVAILABLE.
    GrpcUnavailable,
    /// gRPC status CANCELLED.
    GrpcCancelled,
}

/// The retries a route gets when it configures none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultRetry {
    /// No retries.
    None,
    /// A fixed policy.
    Policy {
        /// Retries after the first attempt.
        retries: u32,
        /// What is retried.
        on: &'static [RetryOn],
    },
    /// Left to the implementation ("including none").
    ImplementationDefined,
}

/// Which parts of a retry policy a user can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryKnobs {
    /// The number of retries.
    pub count: bool,
    /// A timeout per attempt.
    pub per_try_timeout: bool,
    /// Named classes of failure (App Mesh `server-error`, Envoy `connect-failure`).
    pub events: bool,
    /// Individual status codes.
    pub status_codes: bool,
}

impl RetryKnobs {
    /// Nothing can be set.
    pub const NONE: RetryKnobs = RetryKnobs {
        count: false,
        per_try_timeout: false,
        events: false,
        status_codes: false,
    };

    /// Whether a policy can be written at all.
    pub fn any(&self) -> bool {
        self.count || self.per_try_timeout || self.events || self.status_codes
    }
}

/// Back-off between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Envoy's jittered exponential back-off.
    Jittered {
        /// First bound.
        base: Duration,
        /// Cap, when the source states it.
        max: Option<Duration>,
        /// Whether users can change it.
        configurable: bool,
    },
    /// Curve, jitter and cap left to the implementation.
    ImplementationDefined,
    /// Not published.
    Unknown,
    /// The target does not retry.
    NotApplicable,
}

/// Retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    /// When the route sets no policy.
    pub default: Fact<DefaultRetry>,
    /// What a route may set.
    pub knobs: Fact<RetryKnobs>,
    /// Back-off.
    pub backoff: Fact<Backoff>,
}

/// A timeout's value when the configuration leaves it unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutDefault {
    /// Fires after this long.
    After(Duration),
    /// No timeout.
    Off,
    /// Left to the implementation.
    ImplementationDefined,
    /// No such setting, and no value published.
    Unknown,
}

/// Timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request, retries included, when unset.
    pub request: Fact<TimeoutDefault>,
    /// Whether a request timeout can be set.
    pub request_configurable: Fact<bool>,
    /// Idle timeout (stream or connection, as the target has it) when unset.
    pub idle: Fact<TimeoutDefault>,
    /// Whether a timeout per attempt can be set.
    pub per_try_configurable: Fact<bool>,
    /// Upstream connect timeout.
    pub connect: Fact<TimeoutDefault>,
}

/// Consecutive-error ejection parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ejection {
    /// Consecutive 5xx that eject a host.
    pub consecutive_5xx: u32,
    /// Sweep interval.
    pub interval: Duration,
    /// Base ejection time (× times ejected).
    pub base_ejection: Duration,
    /// Cap on the ejected share, percent.
    pub max_ejection_percent: u32,
}

/// Passive outlier detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutlierDetection {
    /// Off unless configured; `defaults` fills fields a configuration leaves out.
    OptIn {
        /// Defaults of the fields, when the target has any (App Mesh requires every field).
        defaults: Option<Ejection>,
    },
    /// Linkerd's failure accrual, opt-in.
    FailureAccrual {
        /// Consecutive failures.
        consecutive: u32,
    },
    /// On, not configurable, parameters unpublished.
    BuiltIn,
    /// Left to the implementation.
    ImplementationDefined,
    /// None.
    Absent,
}

/// Active health checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthChecks {
    /// Off unless configured, within these ranges.
    OptIn {
        /// Interval range.
        interval: (Duration, Duration),
        /// Timeout range.
        timeout: (Duration, Duration),
        /// Healthy/unhealthy threshold range.
        thresholds: (u32, u32),
    },
    /// On by default with these values.
    OnByDefault {
        /// Interval.
        interval: Duration,
        /// Timeout.
        timeout: Duration,
        /// Consecutive successes to become healthy.
        healthy_threshold: u32,
        /// Allowed range of the unhealthy threshold (its default is not published).
        unhealthy_thresholds: (u32, u32),
    },
    /// Built in, parameters unpublished.
    BuiltIn,
    /// No active checks: the platform's readiness decides endpoints.
    ReadinessOnly,
    /// Left to the implementation.
    ImplementationDefined,
}

/// Load-balancing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancing {
    /// Round robin.
    RoundRobin,
    /// Envoy LEAST_REQUEST.
    LeastRequest,
    /// Power of two choices over peak EWMA latency.
    P2cPeakEwma,
    /// Left to the implementation.
    ImplementationDefined,
    /// Not published.
    Unknown,
}

/// Load balancing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadBalancing {
    /// The algorithm in force by default.
    pub default: Fact<Balancing>,
    /// Whether users can choose another.
    pub configurable: Fact<bool>,
}

/// Circuit-breaker thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// Concurrent connections.
    pub max_connections: u32,
    /// Queued requests.
    pub max_pending_requests: u32,
    /// Concurrent requests.
    pub max_requests: u32,
    /// Concurrent retries.
    pub max_retries: u32,
}

/// Connection pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pools {
    /// Whether users can set limits.
    pub configurable: Fact<bool>,
    /// Limits in force by default (`None`: none exposed or published).
    pub defaults: Fact<Option<PoolLimits>>,
}

/// How traffic can be split between versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Relative integer weights per target.
    Weights {
        /// Smallest weight.
        min: u32,
        /// Largest weight, when capped.
        max: Option<u32>,
        /// Most targets per rule, when capped.
        max_targets: Option<u32>,
        /// Cap on the sum of a rule's weights.
        max_sum: Option<u32>,
    },
    /// No steady split: only a deployment moves traffic between revisions.
    DeploymentStepsOnly,
}

/// How a path prefix is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixMatch {
    /// Character by character: `/red` matches `/redirect`.
    Characters,
    /// Segment by segment: `/red` matches `/red/x`, not `/redirect`.
    Segments,
    /// No path matching.
    None,
}

/// Whether path matches are case-sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathCase {
    /// Always.
    Sensitive,
    /// Never.
    Insensitive,
    /// A flag per match (Istio `ignoreUriCase`), case-sensitive unless set.
    SensitiveUnlessFlagged,
    /// No path matching.
    NotApplicable,
}

/// Support for a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Supported.
    Yes,
    /// Left to the implementation (Gateway API "implementation-specific").
    ImplementationDefined,
    /// Not supported.
    No,
}

/// A kind of header (or metadata) match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// Value equals.
    Exact,
    /// Value starts with.
    Prefix,
    /// Value ends with.
    Suffix,
    /// Regular expression.
    Regex,
    /// Integer range.
    Range,
    /// Header present.
    Present,
    /// Negation.
    Invert,
}

/// A kind of query-parameter match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// Value equals.
    Exact,
    /// Parameter present.
    Present,
    /// Value starts with.
    Prefix,
    /// Regular expression.
    Regex,
}

/// Which route wins when several match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precedence {
    /// An explicit priority per route, lowest first.
    Priority {
        /// Smallest value.
        min: u32,
        /// Largest value.
        max: u32,
    },
    /// The order rules are listed in.
    ListOrder,
    /// A fixed specificity order (Gateway API: exact > longest prefix > method > headers > query).
    Specificity,
    /// No routes.
    NoRouting,
}

/// Request matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matching {
    /// Whether the target routes on requests at all.
    pub routing: Fact<bool>,
    /// Prefix semantics.
    pub prefix: Fact<PrefixMatch>,
    /// Exact path matches.
    pub exact_path: Fact<Support>,
    /// Regular-expression path matches.
    pub regex_path: Fact<Support>,
    /// Case sensitivity of path matches.
    pub path_case: Fact<PathCase>,
    /// Header match kinds.
    pub header_kinds: Fact<&'static [HeaderKind]>,
    /// Most header matches per match, when capped.
    pub headers_per_match: Fact<Option<u32>>,
    /// Query-parameter match kinds (empty: none).
    pub query_kinds: Fact<&'static [QueryKind]>,
    /// Most query matches per match, when capped.
    pub query_per_match: Fact<Option<u32>>,
    /// Method matches.
    pub method: Fact<Support>,
    /// Most matches per rule, when capped.
    pub matches_per_rule: Fact<Option<u32>>,
    /// Precedence between rules.
    pub precedence: Fact<Precedence>,
}

/// Peer TLS between services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerTls {
    /// Per-listener STRICT/PERMISSIVE TLS, mutual with a validation context; off by default.
    ListenerMutualOptIn,
    /// Automatic mutual TLS; servers accept plaintext too unless STRICT (PERMISSIVE default).
    AutoMutualPermissive,
    /// Automatic mutual TLS between meshed workloads, always on.
    AutoMutual,
    /// TLS origination to backends only (BackendTLSPolicy).
    OriginationOnly,
    /// One-way TLS 1.3 with an AWS Private CA; no client authentication.
    OneWayTls13,
    /// HTTPS listeners and IAM (SigV4) auth policies instead of mutual TLS.
    HttpsAndIamAuth,
}

/// The default for calls to destinations the mesh does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// Refused with this HTTP status unless declared.
    DropAll {
        /// The caller's status.
        status: u16,
    },
    /// Allowed; a restricting mode answers this status.
    AllowAny {
        /// The status in the restricting mode.
        restricted_status: u16,
    },
    /// No egress filter.
    NoFilter,
}

/// One target's defaults and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Which target.
    pub target: Target,
    /// Retries.
    pub retries: Retries,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Passive outlier detection.
    pub outlier_detection: Fact<OutlierDetection>,
    /// Active health checks.
    pub health_checks: Fact<HealthChecks>,
    /// Load balancing.
    pub load_balancing: LoadBalancing,
    /// Connection pools.
    pub pools: Pools,
    /// Weighted routing.
    pub split: Fact<Split>,
    /// Request matching.
    pub matching: Matching,
    /// Request mirroring.
    pub mirroring: Fact<Support>,
    /// Fault injection.
    pub fault_injection: Fact<Support>,
    /// Peer TLS.
    pub tls: Fact<PeerTls>,
    /// Whether a server can require and check a client certificate.
    pub client_certificates: Fact<bool>,
    /// Egress to unknown destinations.
    pub egress: Fact<Egress>,
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// App Mesh's hidden default retry policy (UG:envoy-defaults; the engine's
/// `RetryRules::app_mesh_default`).
pub const APP_MESH_DEFAULT_RETRY_ON: &[RetryOn] = &[
    RetryOn::Status(503),
    RetryOn::ConnectFailure,
    RetryOn::RefusedStream,
    RetryOn::Reset,
    RetryOn::GrpcUnavailable,
];

const ALL_HEADER_KINDS: &[HeaderKind] = &[
    HeaderKind::Exact,
    HeaderKind::Prefix,
    HeaderKind::Suffix,
    HeaderKind::Regex,
    HeaderKind::Range,
    HeaderKind::Present,
    HeaderKind::Invert,
];

/// App Mesh, accounts with no mesh before 2020-07-29.
pub const APP_MESH: Profile = Profile {
    target: Target::AppMesh,
    retries: Retries {
        // migration-targets.md §2 "retries when nothing is configured"; appmesh-spec.md §8.4.
        default: doc(
            DefaultRetry::Policy {
                retries: 2,
                on: APP_MESH_DEFAULT_RETRY_ON,
            },
            "UG:envoy-defaults",
        ),
        // appmesh-spec.md §5.5: maxRetries, perRetryTimeout, event lists; no status codes
        // (roadmap#448/#451).
        knobs: doc(
            RetryKnobs {
                count: true,
                per_try_timeout: true,
                events: true,
                status_codes: false,
            },
            "AM-API HttpRetryPolicy; aws-app-mesh-roadmap#448",
        ),
        // resilience-chaos-canary.md errata 1: bounds 25, 50, 100, 200, 250 ms.
        backoff: doc(
            Backoff::Jittered {
                base: millis(25),
                max: Some(millis(250)),
                configurable: false,
            },
            "appmesh-spec.md §5.5; Envoy JitteredExponentialBackOffStrategy (PR #10417)",
        ),
    },
    timeouts: Timeouts {
        request: doc(TimeoutDefault::After(secs(15)), "AM-API HttpTimeout"),
        request_configurable: doc(true, "AM-API HttpTimeout"),
        // The user guide says 300 s, the API reference "none" (migration-targets.md §9).
        idle: marked(
            TimeoutDefault::After(secs(300)),
            "UG:routes; UG:virtual_nodes",
            Certainty::Documented,
        ),
        per_try_configurable: doc(true, "AM-API HttpRetryPolicy.perRetryTimeout"),
        connect: doc(
            TimeoutDefault::After(secs(1)),
            "appmesh-spec.md errata 5 (App Mesh config dumps, djannot/envoyctl#2)",
        ),
    },
    outlier_detection: doc(
        OutlierDetection::OptIn { defaults: None },
        "AM-API OutlierDetection",
    ),
    health_checks: doc(
        HealthChecks::OptIn {
            interval: (secs(5), secs(300)),
            timeout: (secs(2), secs(60)),
            thresholds: (2, 10),
        },
        "AM-API HealthCheckPolicy",
    ),
    load_balancing: LoadBalancing {
        default: doc(Balancing::RoundRobin, "aws-app-mesh-roadmap#70"),
        configurable: doc(false, "aws-app-mesh-roadmap#70"),
    },
    pools: Pools {
        configurable: doc(true, "AM-API VirtualNodeConnectionPool"),
        defaults: doc(
            Some(PoolLimits {
                max_connections: 2_147_483_647,
                max_pending_requests: 2_147_483_647,
                max_requests: 2_147_483_647,
                max_retries: 2_147_483_647,
            }),
            "UG:envoy-defaults",
        ),
    },
    split: doc(
        Split::Weights {
            min: 0,
            max: Some(100),
            max_targets: Some(10),
            max_sum: Some(100),
        },
        "AM-API WeightedTarget; appmesh-spec.md errata 9",
    ),
    matching: Matching {
        routing: doc(true, "AM-API HttpRouteMatch"),
        prefix: doc(
            PrefixMatch::Characters,
            "envoyproxy/envoy:api/envoy/config/route/v3/route_components.proto (RouteMatch.prefix)",
        ),
        exact_path: doc(Support::Yes, "AM-API HttpPathMatch"),
        regex_path: doc(Support::Yes, "AM-API HttpPathMatch"),
        path_case: doc(
            PathCase::Sensitive,
            "envoyproxy/envoy:api/envoy/config/route/v3/route_components.proto (RouteMatch.case_sensitive, default true)",
        ),
        header_kinds: doc(ALL_HEADER_KINDS, "AM-API HttpRouteHeader"),
        headers_per_match: doc(Some(10), "AM-API HttpRouteMatch.headers"),
        query_kinds: doc(
            &[QueryKind::Exact, QueryKind::Present],
            "AM-API QueryParameterMatch",
        ),
        query_per_match: doc(Some(10), "AM-API HttpRouteMatch.queryParameters"),
        method: doc(Support::Yes, "AM-API HttpRouteMatch.method"),
        matches_per_rule: doc(Some(1), "AM-API HttpRoute.match"),
        precedence: doc(
            Precedence::Priority { min: 0, max: 1000 },
            "AM-API RouteSpec.priority",
        ),
    },
    mirroring: doc(Support::No, "aws-app-mesh-roadmap#35"),
    fault_injection: doc(Support::No, "aws-app-mesh-roadmap#36"),
    tls: doc(PeerTls::ListenerMutualOptIn, "UG:tls"),
    client_certificates: doc(true, "UG:mutual-tls"),
    egress: doc(
        Egress::DropAll { status: 404 },
        "AM-API EgressFilter; tls-and-egress.md §6",
    ),
};

/// App Mesh, accounts that had a mesh before 2020-07-29: Envoy's own retry and breaker
/// defaults (UG:envoy-defaults; the engine's `EnvoyDefaults::Envoy`).
pub const APP_MESH_PRE_2020: Profile = Profile {
    target: Target::AppMeshPre2020,
    retries: Retries {
        default: doc(DefaultRetry::None, "UG:envoy-defaults"),
        ..APP_MESH.retries
    },
    pools: Pools {
        configurable: APP_MESH.pools.configurable,
        defaults: doc(
            Some(PoolLimits {
                max_connections: 1024,
                max_pending_requests: 1024,
                max_requests: 1024,
                max_retries: 3,
            }),
            "UG:envoy-defaults; envoy/config/cluster/v3/circuit_breaker.proto",
        ),
    },
    ..APP_MESH
};

/// Istio, sidecar mode (migration-targets.md §3).
pub const ISTIO: Profile = Profile {
    target: Target::Istio,
    retries: Retries {
        default: doc(
            DefaultRetry::Policy {
                retries: 2,
                on: &[
                    RetryOn::ConnectFailure,
                    RetryOn::RefusedStream,
                    RetryOn::GrpcUnavailable,
                    RetryOn::GrpcCancelled,
                    RetryOn::Status(503),
                ],
            },
            "istio/istio#58086 (config dump)",
        ),
        knobs: doc(
            RetryKnobs {
                count: true,
                per_try_timeout: true,
                events: true,
                status_codes: true,
            },
            "VS-proto HTTPRetry",
        ),
        backoff: doc(
            Backoff::Jittered {
                base: millis(25),
                max: None,
                configurable: true,
            },
            "VS-proto HTTPRetry.backoff",
        ),
    },
    timeouts: Timeouts {
        request: doc(TimeoutDefault::Off, "VS-proto HTTPRoute.timeout"),
        request_configurable: doc(true, "VS-proto HTTPRoute.timeout"),
        idle: doc(
            TimeoutDefault::After(secs(3600)),
            "DR-proto ConnectionPoolSettings.HTTPSettings.idleTimeout",
        ),
        per_try_configurable: doc(true, "VS-proto HTTPRetry.perTryTimeout"),
        connect: doc(
            TimeoutDefault::After(secs(10)),
            "DR-proto ConnectionPoolSettings.TCPSettings.connectTimeout",
        ),
    },
    outlier_detection: marked(
        OutlierDetection::OptIn {
            defaults: Some(Ejection {
                consecutive_5xx: 5,
                interval: secs(10),
                base_ejection: secs(30),
                max_ejection_percent: 10,
            }),
        },
        "DR-proto OutlierDetection",
        Certainty::Documented,
    ),
    health_checks: marked(
        HealthChecks::ReadinessOnly,
        "migration-targets.md §3.4",
        Certainty::Unverified,
    ),
    load_balancing: LoadBalancing {
        default: doc(
            Balancing::LeastRequest,
            "DR-proto LoadBalancerSettings.SimpleLB",
        ),
        configurable: doc(true, "DR-proto LoadBalancerSettings"),
    },
    pools: Pools {
        configurable: doc(true, "DR-proto ConnectionPoolSettings"),
        defaults: doc(
            Some(PoolLimits {
                max_connections: u32::MAX,
                max_pending_requests: u32::MAX,
                max_requests: u32::MAX,
                max_retries: u32::MAX,
            }),
            "DR-proto ConnectionPoolSettings",
        ),
    },
    split: doc(
        Split::Weights {
            min: 0,
            max: None,
            max_targets: None,
            max_sum: None,
        },
        "VS-proto HTTPRouteDestination.weight",
    ),
    matching: Matching {
        routing: doc(true, "VS-proto HTTPMatchRequest"),
        prefix: marked(
            PrefixMatch::Characters,
            "VS-proto StringMatch.prefix; migration-targets.md §8",
            Certainty::Inference,
        ),
        exact_path: doc(Support::Yes, "VS-proto StringMatch"),
        regex_path: doc(Support::Yes, "VS-proto StringMatch"),
        path_case: doc(
            PathCase::SensitiveUnlessFlagged,
            "VS-proto HTTPMatchRequest.ignoreUriCase",
        ),
        header_kinds: doc(
            &[
                HeaderKind::Exact,
                HeaderKind::Prefix,
                HeaderKind::Regex,
                HeaderKind::Invert,
            ],
            "VS-proto HTTPMatchRequest.headers, withoutHeaders",
        ),
        headers_per_match: marked(None, "VS-proto", Certainty::Unverified),
        query_kinds: doc(
            &[QueryKind::Exact, QueryKind::Prefix, QueryKind::Regex],
            "VS-proto HTTPMatchRequest.queryParams",
        ),
        query_per_match: marked(None, "VS-proto", Certainty::Unverified),
        method: doc(Support::Yes, "VS-proto HTTPMatchRequest.method"),
        matches_per_rule: marked(None, "VS-proto", Certainty::Unverified),
        precedence: doc(Precedence::ListOrder, "VS-proto VirtualService.http"),
    },
    mirroring: doc(Support::Yes, "VS-proto HTTPRoute.mirror, mirrorPercentage"),
    fault_injection: doc(Support::Yes, "VS-proto HTTPFaultInjection"),
    tls: doc(
        PeerTls::AutoMutualPermissive,
        "istio.io/docs/reference/config/security/peer_authentication",
    ),
    client_certificates: doc(
        true,
        "istio.io/docs/reference/config/security/peer_authentication",
    ),
    egress: doc(
        Egress::AllowAny {
            restricted_status: 502,
        },
        "istio.io/v1.18/docs/tasks/traffic-management/egress/egress-control; istio/istio#16629",
    ),
};

/// The Kubernetes Gateway API, as its specification fixes it (migration-targets.md §4).
pub const GATEWAY_API: Profile = Profile {
    target: Target::GatewayApi,
    retries: Retries {
        default: doc(
            DefaultRetry::ImplementationDefined,
            "GW-HTTP HTTPRouteRetry",
        ),
        knobs: doc(
            RetryKnobs {
                count: true,
                per_try_timeout: true,
                events: false,
                status_codes: true,
            },
            "GW-HTTP HTTPRouteRetry, HTTPRouteTimeouts.backendRequest",
        ),
        backoff: doc(
            Backoff::ImplementationDefined,
            "GW-HTTP HTTPRouteRetry.backoff",
        ),
    },
    timeouts: Timeouts {
        request: doc(
            TimeoutDefault::ImplementationDefined,
            "GW-HTTP HTTPRouteTimeouts.request",
        ),
        request_configurable: doc(true, "GW-HTTP HTTPRouteTimeouts.request"),
        idle: doc(
            TimeoutDefault::ImplementationDefined,
            "GW-HTTP (no idle field)",
        ),
        per_try_configurable: doc(true, "GW-HTTP HTTPRouteTimeouts.backendRequest"),
        connect: doc(TimeoutDefault::ImplementationDefined, "GW-HTTP"),
    },
    outlier_detection: doc(
        OutlierDetection::ImplementationDefined,
        "migration-targets.md §4.8 (GW-HTTP)",
    ),
    health_checks: doc(
        HealthChecks::ImplementationDefined,
        "migration-targets.md §4.8 (GW-HTTP)",
    ),
    load_balancing: LoadBalancing {
        default: doc(
            Balancing::ImplementationDefined,
            "migration-targets.md §4.8",
        ),
        configurable: doc(false, "migration-targets.md §4.8"),
    },
    pools: Pools {
        configurable: doc(false, "migration-targets.md §4.8"),
        defaults: doc(None, "migration-targets.md §4.8"),
    },
    split: doc(
        Split::Weights {
            min: 0,
            max: Some(1_000_000),
            max_targets: Some(16),
            max_sum: None,
        },
        "GW-SHARED BackendRef.weight; GW-HTTP HTTPRouteRule.backendRefs",
    ),
    matching: Matching {
        routing: doc(true, "GW-HTTP HTTPRouteMatch"),
        prefix: doc(PrefixMatch::Segments, "GW-HTTP PathMatchPathPrefix"),
        exact_path: doc(Support::Yes, "GW-HTTP PathMatchExact"),
        regex_path: doc(
            Support::ImplementationDefined,
            "GW-HTTP PathMatchRegularExpression",
        ),
        path_case: doc(PathCase::Sensitive, "GW-HTTP HTTPPathMatch"),
        header_kinds: doc(&[HeaderKind::Exact], "GW-HTTP HTTPHeaderMatch (Exact core)"),
        headers_per_match: doc(Some(16), "GW-HTTP HTTPRouteMatch.headers"),
        query_kinds: doc(
            &[QueryKind::Exact],
            "GW-HTTP HTTPQueryParamMatch (Exact extended)",
        ),
        query_per_match: doc(Some(16), "GW-HTTP HTTPRouteMatch.queryParams"),
        method: doc(Support::Yes, "GW-HTTP HTTPRouteMatch.method (extended)"),
        matches_per_rule: doc(Some(64), "GW-HTTP HTTPRouteRule.matches"),
        precedence: doc(
            Precedence::Specificity,
            "GW-HTTP HTTPRouteRule (precedence)",
        ),
    },
    mirroring: doc(
        Support::ImplementationDefined,
        "GW-HTTP HTTPRequestMirrorFilter (extended)",
    ),
    fault_injection: doc(Support::No, "migration-targets.md §4.7 (GW-HTTP)"),
    tls: doc(
        PeerTls::OriginationOnly,
        "gateway-api.sigs.k8s.io/geps/landing/standard (BackendTLSPolicy, GEP-1897)",
    ),
    client_certificates: doc(
        false,
        "gateway-api.sigs.k8s.io/geps/landing/standard (GEP-3155)",
    ),
    egress: doc(Egress::NoFilter, "migration-targets.md §2"),
};

/// Amazon ECS Service Connect (migration-targets.md §5).
pub const SERVICE_CONNECT: Profile = Profile {
    target: Target::ServiceConnect,
    retries: Retries {
        default: marked(
            DefaultRetry::Policy {
                retries: 2,
                on: &[RetryOn::ConnectFailure, RetryOn::Status(503)],
            },
            "aws/containers-roadmap#1963",
            Certainty::UserReport,
        ),
        knobs: doc(
            RetryKnobs::NONE,
            "API_ServiceConnectService (no retry field)",
        ),
        backoff: marked(Backoff::Unknown, "ECS-SC", Certainty::Unverified),
    },
    timeouts: Timeouts {
        request: marked(
            TimeoutDefault::After(secs(15)),
            "zenn.dev/moozaru/articles/3072f571f7d48f; aws/containers-roadmap#1958",
            Certainty::ThirdParty,
        ),
        request_configurable: doc(true, "API_TimeoutConfiguration.perRequestTimeoutSeconds"),
        idle: doc(
            TimeoutDefault::After(secs(300)),
            "API_TimeoutConfiguration.idleTimeoutSeconds",
        ),
        per_try_configurable: doc(false, "API_TimeoutConfiguration"),
        connect: marked(TimeoutDefault::Unknown, "ECS-SC", Certainty::Unverified),
    },
    outlier_detection: doc(
        OutlierDetection::BuiltIn,
        "aws.amazon.com/blogs/containers/migrating-from-aws-app-mesh-to-amazon-ecs-service-connect",
    ),
    health_checks: doc(
        HealthChecks::BuiltIn,
        "aws.amazon.com/blogs/containers/migrating-from-aws-app-mesh-to-amazon-ecs-service-connect",
    ),
    load_balancing: LoadBalancing {
        default: marked(Balancing::Unknown, "ECS-SC", Certainty::Unverified),
        configurable: doc(false, "ECS-SC (the proxy cannot be configured)"),
    },
    pools: Pools {
        configurable: doc(false, "ECS-SC (the proxy cannot be configured)"),
        defaults: marked(None, "ECS-SC", Certainty::Unverified),
    },
    split: doc(
        Split::DeploymentStepsOnly,
        "docs.aws.amazon.com/AmazonECS/latest/developerguide/service-connect-blue-green.html",
    ),
    matching: Matching {
        routing: doc(
            false,
            "docs.aws.amazon.com/AmazonECS/latest/developerguide/service-connect-blue-green.html",
        ),
        prefix: doc(PrefixMatch::None, "service-connect-blue-green.html"),
        exact_path: doc(Support::No, "service-connect-blue-green.html"),
        regex_path: doc(Support::No, "service-connect-blue-green.html"),
        path_case: doc(PathCase::NotApplicable, "service-connect-blue-green.html"),
        header_kinds: doc(
            &[],
            "service-connect-blue-green.html (test-traffic header only)",
        ),
        headers_per_match: doc(Some(0), "service-connect-blue-green.html"),
        query_kinds: doc(&[], "service-connect-blue-green.html"),
        query_per_match: doc(Some(0), "service-connect-blue-green.html"),
        method: doc(Support::No, "service-connect-blue-green.html"),
        matches_per_rule: doc(Some(0), "service-connect-blue-green.html"),
        precedence: doc(Precedence::NoRouting, "service-connect-blue-green.html"),
    },
    mirroring: doc(Support::No, "migration-targets.md §2"),
    fault_injection: doc(Support::No, "migration-targets.md §2"),
    tls: doc(
        PeerTls::OneWayTls13,
        "docs.aws.amazon.com/AmazonECS/latest/developerguide/service-connect-tls.html",
    ),
    client_certificates: doc(
        false,
        "service-connect-tls.html; aws/containers-roadmap#2150",
    ),
    egress: doc(Egress::NoFilter, "migration-targets.md §2"),
};

/// Amazon VPC Lattice through the AWS Gateway API Controller (migration-targets.md §6).
pub const LATTICE: Profile = Profile {
    target: Target::Lattice,
    retries: Retries {
        default: marked(
            DefaultRetry::None,
            "docs.aws.amazon.com/vpc-lattice (none documented)",
            Certainty::Unverified,
        ),
        knobs: marked(
            RetryKnobs::NONE,
            "LAT-CTL (no retry field); docs.aws.amazon.com/vpc-lattice",
            Certainty::Unverified,
        ),
        backoff: doc(Backoff::NotApplicable, "migration-targets.md §6.3"),
    },
    timeouts: Timeouts {
        request: doc(
            TimeoutDefault::Off,
            "docs.aws.amazon.com/vpc-lattice/latest/ug/services.html",
        ),
        request_configurable: doc(
            false,
            "docs.aws.amazon.com/vpc-lattice/latest/ug/services.html",
        ),
        idle: doc(
            TimeoutDefault::After(secs(60)),
            "docs.aws.amazon.com/vpc-lattice/latest/ug/services.html",
        ),
        per_try_configurable: doc(false, "migration-targets.md §6.3"),
        connect: marked(
            TimeoutDefault::Unknown,
            "docs.aws.amazon.com/vpc-lattice/latest/ug/services.html",
            Certainty::Unverified,
        ),
    },
    outlier_detection: doc(
        OutlierDetection::Absent,
        "LAT-CTL:docs/api-types (no outlier CRD)",
    ),
    health_checks: doc(
        HealthChecks::OnByDefault {
            interval: secs(30),
            timeout: secs(5),
            healthy_threshold: 5,
            unhealthy_thresholds: (2, 10),
        },
        "API_HealthCheckConfig (Lattice); docs.aws.amazon.com/vpc-lattice/latest/ug/target-group-health-checks.html",
    ),
    load_balancing: LoadBalancing {
        default: marked(
            Balancing::Unknown,
            "migration-targets.md §2",
            Certainty::Unverified,
        ),
        configurable: marked(false, "migration-targets.md §2", Certainty::Unverified),
    },
    pools: Pools {
        configurable: doc(false, "LAT-CTL:docs/api-types (no pool CRD)"),
        defaults: doc(None, "LAT-CTL:docs/api-types"),
    },
    split: doc(
        Split::Weights {
            min: 0,
            max: Some(999),
            max_targets: Some(10),
            max_sum: None,
        },
        "API_WeightedTargetGroup (Lattice); CFN aws-properties-vpclattice-rule-forward",
    ),
    matching: Matching {
        routing: doc(true, "LAT-CTL:pkg/gateway/model_build_rule.go"),
        prefix: marked(
            PrefixMatch::Characters,
            "LAT-CTL:pkg/gateway/model_build_rule.go; migration-targets.md §8",
            Certainty::Inference,
        ),
        exact_path: doc(Support::Yes, "LAT-CTL:pkg/gateway/model_build_rule.go"),
        regex_path: doc(
            Support::No,
            "LAT-CTL:pkg/gateway/model_build_rule.go (LATTICE_UNSUPPORTED_PATH_MATCH_TYPE)",
        ),
        path_case: doc(
            PathCase::Insensitive,
            "LAT-CTL:docs/api-types/http-route.md",
        ),
        header_kinds: doc(
            &[HeaderKind::Exact],
            "LAT-CTL:pkg/gateway/model_build_rule.go",
        ),
        headers_per_match: doc(
            Some(5),
            "LAT-CTL:pkg/gateway/model_build_rule.go (LATTICE_MAX_HEADER_MATCHES = 5)",
        ),
        query_kinds: doc(
            &[],
            "LAT-CTL:pkg/gateway/model_build_rule.go (LATTICE_UNSUPPORTED_MATCH_TYPE)",
        ),
        query_per_match: doc(Some(0), "LAT-CTL:pkg/gateway/model_build_rule.go"),
        method: doc(Support::Yes, "LAT-CTL:docs/api-types/http-route.md"),
        matches_per_rule: doc(
            Some(1),
            "LAT-CTL:pkg/gateway/model_build_rule.go (LATTICE_NO_SUPPORT_FOR_MULTIPLE_MATCHES)",
        ),
        precedence: doc(
            Precedence::Priority { min: 1, max: 100 },
            "LAT-CTL:pkg/model/lattice/rule.go; LAT-CTL:docs/conformance-test.md (route precedence not supported)",
        ),
    },
    mirroring: doc(Support::No, "LAT-CTL:docs/conformance-test.md"),
    fault_injection: doc(Support::No, "migration-targets.md §2"),
    tls: doc(
        PeerTls::HttpsAndIamAuth,
        "docs.aws.amazon.com/vpc-lattice/latest/ug/https-listeners.html",
    ),
    client_certificates: doc(
        false,
        "docs.aws.amazon.com/vpc-lattice/latest/ug/https-listeners.html",
    ),
    egress: doc(Egress::NoFilter, "migration-targets.md §2"),
};

/// Linkerd (migration-targets.md §7; its routing is Gateway API's HTTPRoute).
pub const LINKERD: Profile = Profile {
    target: Target::Linkerd,
    retries: Retries {
        default: doc(
            DefaultRetry::None,
            "linkerd.io/2/features/retries-and-timeouts",
        ),
        knobs: doc(
            RetryKnobs {
                count: true,
                per_try_timeout: true,
                events: true,
                status_codes: true,
            },
            "linkerd.io/2/features/retries-and-timeouts (retry.linkerd.io/*)",
        ),
        backoff: marked(
            Backoff::Unknown,
            "migration-targets.md §7",
            Certainty::Unverified,
        ),
    },
    timeouts: Timeouts {
        request: doc(
            TimeoutDefault::Off,
            "linkerd.io/2/features/retries-and-timeouts",
        ),
        request_configurable: doc(true, "linkerd.io/2/features/retries-and-timeouts"),
        idle: marked(
            TimeoutDefault::Unknown,
            "linkerd.io/2/features/retries-and-timeouts (timeout.linkerd.io/idle)",
            Certainty::Unverified,
        ),
        per_try_configurable: doc(
            true,
            "linkerd.io/2/features/retries-and-timeouts (retry.linkerd.io/timeout)",
        ),
        connect: marked(
            TimeoutDefault::Unknown,
            "migration-targets.md §7",
            Certainty::Unverified,
        ),
    },
    outlier_detection: doc(
        OutlierDetection::FailureAccrual { consecutive: 7 },
        "resilience-chaos-canary.md §2.3 (linkerd/linkerd2)",
    ),
    health_checks: doc(
        HealthChecks::ReadinessOnly,
        "resilience-chaos-canary.md §2.3",
    ),
    load_balancing: LoadBalancing {
        default: doc(Balancing::P2cPeakEwma, "resilience-chaos-canary.md §2.3"),
        configurable: doc(false, "resilience-chaos-canary.md §2.3"),
    },
    pools: Pools {
        configurable: doc(false, "migration-targets.md §8"),
        defaults: doc(None, "migration-targets.md §8"),
    },
    split: marked(
        Split::Weights {
            min: 0,
            max: Some(1_000_000),
            max_targets: Some(16),
            max_sum: None,
        },
        "linkerd.io/2/features/retries-and-timeouts (HTTPRoute); GW-SHARED",
        Certainty::Inference,
    ),
    matching: Matching {
        routing: doc(true, "migration-targets.md §7 (HTTPRoute)"),
        prefix: marked(PrefixMatch::Segments, "GW-HTTP", Certainty::Inference),
        exact_path: marked(Support::Yes, "GW-HTTP", Certainty::Inference),
        regex_path: doc(Support::Yes, "migration-targets.md §2"),
        path_case: marked(PathCase::Sensitive, "GW-HTTP", Certainty::Inference),
        header_kinds: doc(
            &[HeaderKind::Exact, HeaderKind::Regex],
            "migration-targets.md §8",
        ),
        headers_per_match: marked(Some(16), "GW-HTTP", Certainty::Inference),
        query_kinds: marked(&[QueryKind::Exact], "GW-HTTP", Certainty::Inference),
        query_per_match: marked(Some(16), "GW-HTTP", Certainty::Inference),
        method: marked(Support::Yes, "GW-HTTP", Certainty::Inference),
        matches_per_rule: marked(Some(64), "GW-HTTP", Certainty::Inference),
        precedence: doc(Precedence::Specificity, "migration-targets.md §2"),
    },
    mirroring: doc(
        Support::No,
        "resilience-chaos-canary.md §2.3 (policy controller)",
    ),
    fault_injection: doc(Support::No, "resilience-chaos-canary.md §2.3"),
    tls: doc(
        PeerTls::AutoMutual,
        "linkerd.io/2.15/features/automatic-mtls",
    ),
    client_certificates: doc(true, "linkerd.io/2.15/features/automatic-mtls"),
    egress: marked(
        Egress::NoFilter,
        "migration-targets.md §2",
        Certainty::Unverified,
    ),
};

#[cfg(test)]
mod tests {
    //! Each profile's values against the values `migration-targets.md` states, one test per
    //! source; and App Mesh's profile against the engine that simulates it.

    use super::*;
    use crate::engine::breaker::ConnectionPoolLimits;
    use crate::engine::defaults::EnvoyDefaults;
    use crate::engine::retry::AttemptOutcome;

    fn retries(p: &Profile) -> Option<(u32, &'static [RetryOn])> {
        match p.retries.default.value {
            DefaultRetry::Policy { retries, on } => Some((retries, on)),
            _ => None,
        }
    }

    #[test]
    fn every_target_has_its_own_profile_and_every_fact_a_source() {
        for t in Target::ALL {
            let p = t.profile();
            assert_eq!(p.target, t);
            for source in [
                p.retries.default.source,
                p.retries.knobs.source,
                p.retries.backoff.source,
                p.timeouts.request.source,
                p.timeouts.idle.source,
                p.timeouts.connect.source,
                p.outlier_detection.source,
                p.health_checks.source,
                p.load_balancing.default.source,
                p.pools.defaults.source,
                p.split.source,
                p.matching.prefix.source,
                p.matching.path_case.source,
                p.matching.headers_per_match.source,
                p.matching.precedence.source,
                p.mirroring.source,
                p.fault_injection.source,
                p.tls.source,
                p.egress.source,
            ] {
                assert!(!source.trim().is_empty(), "{t}: a fact without a source");
            }
        }
    }

    /// UG:envoy-defaults: 2 retries on 503, connect-failure, refused-stream, reset, gRPC
    /// UNAVAILABLE; 2147483647 breakers; before 2020-07-29 none and 1024/1024/1024/3.
    #[test]
    fn app_mesh_defaults_follow_ug_envoy_defaults_and_the_engine() {
        let (n, on) = retries(Target::AppMesh.profile()).expect("App Mesh has a default policy");
        assert_eq!(n, 2);
        for cond in [
            RetryOn::Status(503),
            RetryOn::ConnectFailure,
            RetryOn::RefusedStream,
            RetryOn::Reset,
            RetryOn::GrpcUnavailable,
        ] {
            assert!(on.contains(&cond), "{cond:?}");
        }
        assert_eq!(
            Target::AppMesh.profile().retries.default.source,
            "UG:envoy-defaults"
        );
        assert_eq!(
            Target::AppMeshPre2020.profile().retries.default.value,
            DefaultRetry::None
        );
        // The engine simulates the same: 2 retries of a 503 by default, none before 2020.
        let engine = EnvoyDefaults::AppMesh.retry_rules(None);
        assert_eq!(engine.max_retries, n);
        assert!(engine.retriable(&AttemptOutcome::status(503)).is_some());
        assert_eq!(EnvoyDefaults::Envoy.retry_rules(None).max_retries, 0);
        for (profile, defaults) in [
            (Target::AppMesh.profile(), EnvoyDefaults::AppMesh),
            (Target::AppMeshPre2020.profile(), EnvoyDefaults::Envoy),
        ] {
            let limits = profile.pools.defaults.value.expect("published");
            assert_eq!(
                defaults.pool_limits(),
                ConnectionPoolLimits {
                    max_connections: limits.max_connections,
                    max_pending_requests: limits.max_pending_requests,
                    max_requests: limits.max_requests,
                }
            );
            assert_eq!(defaults.max_retries(), limits.max_retries);
        }
    }

    /// AM-API HttpTimeout (15 s), HttpRouteMatch (≤ 10 headers/query), WeightedTarget (0–100,
    /// ≤ 10), RouteSpec.priority (0–1000); appmesh-spec errata 5 (connect 1 s) and 8 (back-off).
    #[test]
    fn app_mesh_limits_follow_am_api_and_the_engine() {
        assert_eq!(
            Target::AppMesh.profile().timeouts.request.value,
            TimeoutDefault::After(crate::engine::routing::DEFAULT_PER_REQUEST_TIMEOUT)
        );
        assert_eq!(
            Target::AppMesh.profile().timeouts.idle.value,
            TimeoutDefault::After(crate::engine::routing::DEFAULT_IDLE_TIMEOUT)
        );
        assert_eq!(
            Target::AppMesh.profile().timeouts.connect.value,
            TimeoutDefault::After(secs(1))
        );
        assert_eq!(
            Target::AppMesh.profile().split.value,
            Split::Weights {
                min: 0,
                max: Some(100),
                max_targets: Some(10),
                max_sum: Some(100)
            }
        );
        assert_eq!(
            Target::AppMesh.profile().matching.headers_per_match.value,
            Some(10)
        );
        assert_eq!(
            Target::AppMesh.profile().matching.query_per_match.value,
            Some(10)
        );
        assert_eq!(
            Target::AppMesh.profile().matching.precedence.value,
            Precedence::Priority { min: 0, max: 1000 }
        );
        assert_eq!(
            Target::AppMesh.profile().matching.path_case.value,
            PathCase::Sensitive
        );
        assert_eq!(
            Target::AppMesh.profile().matching.prefix.value,
            PrefixMatch::Characters
        );
        assert_eq!(
            Target::AppMesh.profile().retries.backoff.value,
            Backoff::Jittered {
                base: millis(25),
                max: Some(millis(250)),
                configurable: false
            }
        );
        // The engine's back-off bounds start at the same base and stop at the same cap.
        assert_eq!(crate::engine::retry::backoff_bound_ms(1), 25);
        assert_eq!(crate::engine::retry::backoff_bound_ms(10), 250);
        assert_eq!(
            Target::AppMesh.profile().load_balancing.default.value,
            Balancing::RoundRobin
        );
        assert_eq!(Target::AppMesh.profile().mirroring.value, Support::No);
        assert_eq!(Target::AppMesh.profile().fault_injection.value, Support::No);
        assert_eq!(
            Target::AppMesh.profile().egress.value,
            Egress::DropAll { status: 404 }
        );
        assert!(Target::AppMesh.profile().client_certificates.value);
    }

    /// istio#58086: 2 retries on connect-failure, refused-stream, unavailable, cancelled, 503,
    /// no `reset`. VS-proto: no route timeout; DR-proto: outlier 5/10 s/30 s/10 %, LEAST_REQUEST,
    /// idle 1 h, connect 10 s, pools 2^32−1.
    #[test]
    fn istio_follows_istio_58086_vs_proto_and_dr_proto() {
        let (n, on) = retries(Target::Istio.profile()).expect("mesh default");
        assert_eq!(n, 2);
        assert!(on.contains(&RetryOn::Status(503)));
        assert!(on.contains(&RetryOn::GrpcCancelled));
        assert!(
            !on.contains(&RetryOn::Reset),
            "Istio's default does not retry resets"
        );
        assert_eq!(
            Target::Istio.profile().retries.default.source,
            "istio/istio#58086 (config dump)"
        );
        assert_eq!(
            Target::Istio.profile().timeouts.request.value,
            TimeoutDefault::Off
        );
        assert_eq!(
            Target::Istio.profile().timeouts.idle.value,
            TimeoutDefault::After(secs(3600))
        );
        assert_eq!(
            Target::Istio.profile().timeouts.connect.value,
            TimeoutDefault::After(secs(10))
        );
        assert_eq!(
            Target::Istio.profile().outlier_detection.value,
            OutlierDetection::OptIn {
                defaults: Some(Ejection {
                    consecutive_5xx: 5,
                    interval: secs(10),
                    base_ejection: secs(30),
                    max_ejection_percent: 10
                })
            }
        );
        assert!(
            Target::Istio
                .profile()
                .outlier_detection
                .source
                .starts_with("DR-proto")
        );
        assert_eq!(
            Target::Istio.profile().load_balancing.default.value,
            Balancing::LeastRequest
        );
        assert_eq!(
            Target::Istio
                .profile()
                .pools
                .defaults
                .value
                .map(|l| l.max_connections),
            Some(4_294_967_295)
        );
        assert_eq!(
            Target::Istio.profile().matching.precedence.value,
            Precedence::ListOrder
        );
        assert_eq!(
            Target::Istio.profile().matching.path_case.value,
            PathCase::SensitiveUnlessFlagged
        );
        assert_eq!(Target::Istio.profile().mirroring.value, Support::Yes);
        assert_eq!(Target::Istio.profile().fault_injection.value, Support::Yes);
        assert_eq!(
            Target::Istio.profile().egress.value,
            Egress::AllowAny {
                restricted_status: 502
            }
        );
    }

    /// GW-HTTP / GW-SHARED: retries and request timeout implementation-defined; weights
    /// 0–1,000,000, ≤ 16 backends; ≤ 16 headers and query params, ≤ 64 matches per rule;
    /// PathPrefix element-wise, case-sensitive; precedence by specificity; no fault injection.
    #[test]
    fn gateway_api_follows_gw_http_and_gw_shared() {
        let p = Target::GatewayApi.profile();
        assert_eq!(p.retries.default.value, DefaultRetry::ImplementationDefined);
        assert_eq!(
            p.timeouts.request.value,
            TimeoutDefault::ImplementationDefined
        );
        assert!(!p.retries.knobs.value.events && p.retries.knobs.value.status_codes);
        assert_eq!(
            p.split.value,
            Split::Weights {
                min: 0,
                max: Some(1_000_000),
                max_targets: Some(16),
                max_sum: None
            }
        );
        assert!(p.split.source.contains("GW-SHARED"));
        assert_eq!(p.matching.prefix.value, PrefixMatch::Segments);
        assert_eq!(p.matching.path_case.value, PathCase::Sensitive);
        assert_eq!(p.matching.headers_per_match.value, Some(16));
        assert_eq!(p.matching.query_per_match.value, Some(16));
        assert_eq!(p.matching.matches_per_rule.value, Some(64));
        assert_eq!(p.matching.regex_path.value, Support::ImplementationDefined);
        assert_eq!(p.matching.precedence.value, Precedence::Specificity);
        assert_eq!(p.fault_injection.value, Support::No);
        assert_eq!(p.tls.value, PeerTls::OriginationOnly);
    }

    /// containers-roadmap#1963 (user report): twice on connect failure or 503, not
    /// configurable; API_TimeoutConfiguration: idle 300 s; 15 s per request is a third-party
    /// report; service-connect-tls.html: one-way TLS 1.3; no weights, no routing.
    #[test]
    fn service_connect_follows_containers_roadmap_1963_and_api_timeoutconfiguration() {
        let p = Target::ServiceConnect.profile();
        let (n, on) = retries(p).expect("reported policy");
        assert_eq!(n, 2);
        assert_eq!(on, &[RetryOn::ConnectFailure, RetryOn::Status(503)]);
        assert_eq!(p.retries.default.certainty, Certainty::UserReport);
        assert!(p.retries.default.source.contains("containers-roadmap#1963"));
        assert!(!p.retries.knobs.value.any());
        assert_eq!(p.timeouts.request.value, TimeoutDefault::After(secs(15)));
        assert_eq!(p.timeouts.request.certainty, Certainty::ThirdParty);
        assert_eq!(p.timeouts.idle.value, TimeoutDefault::After(secs(300)));
        assert!(p.timeouts.idle.source.contains("API_TimeoutConfiguration"));
        assert_eq!(p.outlier_detection.value, OutlierDetection::BuiltIn);
        assert_eq!(p.split.value, Split::DeploymentStepsOnly);
        assert!(!p.matching.routing.value);
        assert_eq!(p.tls.value, PeerTls::OneWayTls13);
        assert!(!p.client_certificates.value);
        assert!(
            p.client_certificates
                .source
                .contains("containers-roadmap#2150")
        );
    }

    /// LAT-CTL model_build_rule.go: exact/prefix only, ≤ 5 exact headers, no query, one match
    /// per rule; http-route.md: case-insensitive paths; rule priority 1–100; services.html: no
    /// request timeout, idle 60 s; API_HealthCheckConfig: 30 s / 5 s / 5; weights 0–999, ≤ 10.
    #[test]
    fn lattice_follows_lat_ctl_model_build_rule_and_lattice_api() {
        let p = Target::Lattice.profile();
        assert_eq!(p.retries.default.value, DefaultRetry::None);
        assert!(!p.retries.knobs.value.any());
        assert_eq!(p.timeouts.request.value, TimeoutDefault::Off);
        assert!(!p.timeouts.request_configurable.value);
        assert_eq!(p.timeouts.idle.value, TimeoutDefault::After(secs(60)));
        assert!(p.timeouts.idle.source.ends_with("services.html"));
        assert_eq!(p.matching.path_case.value, PathCase::Insensitive);
        assert_eq!(
            p.matching.path_case.source,
            "LAT-CTL:docs/api-types/http-route.md"
        );
        assert_eq!(p.matching.header_kinds.value, &[HeaderKind::Exact]);
        assert_eq!(p.matching.headers_per_match.value, Some(5));
        assert!(p.matching.query_kinds.value.is_empty());
        assert_eq!(p.matching.matches_per_rule.value, Some(1));
        assert_eq!(p.matching.regex_path.value, Support::No);
        assert_eq!(
            p.matching.precedence.value,
            Precedence::Priority { min: 1, max: 100 }
        );
        assert!(p.matching.precedence.source.contains("conformance-test.md"));
        assert_eq!(
            p.health_checks.value,
            HealthChecks::OnByDefault {
                interval: secs(30),
                timeout: secs(5),
                healthy_threshold: 5,
                unhealthy_thresholds: (2, 10)
            }
        );
        assert_eq!(
            p.split.value,
            Split::Weights {
                min: 0,
                max: Some(999),
                max_targets: Some(10),
                max_sum: None
            }
        );
        assert_eq!(p.outlier_detection.value, OutlierDetection::Absent);
        assert_eq!(p.mirroring.value, Support::No);
        assert_eq!(p.tls.value, PeerTls::HttpsAndIamAuth);
    }

    /// linkerd.io/2/features/retries-and-timeouts: no retries or timeouts unless annotated;
    /// resilience-chaos-canary.md §2.3: failure accrual after 7, P2C peak-EWMA; no mirroring.
    #[test]
    fn linkerd_follows_linkerd_io_retries_and_timeouts() {
        let p = Target::Linkerd.profile();
        assert_eq!(p.retries.default.value, DefaultRetry::None);
        assert_eq!(p.timeouts.request.value, TimeoutDefault::Off);
        assert_eq!(
            p.outlier_detection.value,
            OutlierDetection::FailureAccrual { consecutive: 7 }
        );
        assert_eq!(p.load_balancing.default.value, Balancing::P2cPeakEwma);
        assert_eq!(p.mirroring.value, Support::No);
        assert_eq!(p.tls.value, PeerTls::AutoMutual);
    }
}
