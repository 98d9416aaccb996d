//! Types shared by several App Mesh resources: protocols, matchers, TLS, logging.

use std::fmt;

/// A listener or route protocol (`portMapping.protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// HTTP/1.1 (WebSocket upgrades allowed).
    Http,
    /// HTTP/2.
    Http2,
    /// gRPC over HTTP/2.
    Grpc,
    /// Plain TCP.
    Tcp,
}

impl Protocol {
    /// The App Mesh spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `portMapping`: the port a listener binds and what it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// 1..=65535.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// How a header, gRPC metadata entry or query parameter value is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMatch {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// RE2 over the whole value.
    Regex(String),
    /// Parsed as a signed integer, `start <= v < end`.
    Range {
        /// Inclusive.
        start: i64,
        /// Exclusive.
        end: i64,
    },
}

/// A header (or gRPC metadata) matcher: `{name, invert, match}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Header name; compared case-insensitively.
    pub name: String,
    /// Negates the result (an absent header then matches).
    pub invert: bool,
    /// `None` means "the header is present".
    pub value: Option<ValueMatch>,
}

/// A query parameter matcher: `{name, match: {exact}}`; no `match` means "present".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryParameterMatch {
    /// Parameter name.
    pub name: String,
    /// Required exact value.
    pub exact: Option<String>,
}

/// `path` in a route match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path equals.
    Exact(String),
    /// RE2 over the whole path (query excluded).
    Regex(String),
}

/// HTTP methods App Mesh can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

impl HttpMethod {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Connect => "CONNECT",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Trace => "TRACE",
            HttpMethod::Patch => "PATCH",
        }
    }

    /// The method for a wire spelling (upper case), if App Mesh knows it.
    pub fn parse(text: &str) -> Option<HttpMethod> {
        Some(match text {
            "GET" => HttpMethod::Get,
            "HEAD" => HttpMethod::Head,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            "CONNECT" => HttpMethod::Connect,
            "OPTIONS" => HttpMethod::Options,
            "TRACE" => HttpMethod::Trace,
            "PATCH" => HttpMethod::Patch,
            _ => return None,
        })
    }
}

/// `scheme` in an HTTP/2 route match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Scheme {
    Http,
    Https,
}

/// `ipPreference` (mesh, DNS or Cloud Map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum IpPreference {
    Ipv6Preferred,
    Ipv4Preferred,
    Ipv4Only,
    Ipv6Only,
}

/// `tls.mode` on a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS only.
    Strict,
    /// TLS or plaintext.
    Permissive,
    /// Plaintext only.
    Disabled,
}

/// The certificate a listener serves (`tls.certificate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerCertificate {
    /// `acm.certificateArn`.
    Acm {
        /// ARN of the ACM certificate.
        certificate_arn: String,
    },
    /// `file {certificateChain, privateKey}`.
    File {
        /// Path of the chain.
        certificate_chain: String,
        /// Path of the key.
        private_key: String,
    },
    /// `sds.secretName`.
    Sds {
        /// SDS secret name.
        secret_name: String,
    },
}

/// Where trust anchors come from (`validation.trust`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// `acm.certificateAuthorityArns` (client policies only).
    Acm {
        /// 1 to 3 ARNs.
        certificate_authority_arns: Vec<String>,
    },
    /// `file.certificateChain`.
    File {
        /// Path of the chain.
        certificate_chain: String,
    },
    /// `sds.secretName`.
    Sds {
        /// SDS secret name.
        secret_name: String,
    },
}

/// `validation`: trust plus the SANs a peer certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsValidation {
    /// Trust anchors.
    pub trust: Trust,
    /// `subjectAlternativeNames.match.exact`; empty means "any".
    pub subject_alternative_names: Vec<String>,
}

/// `tls` on a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerTls {
    /// STRICT, PERMISSIVE or DISABLED.
    pub mode: TlsMode,
    /// What the listener serves.
    pub certificate: ListenerCertificate,
    /// Mutual TLS: how client certificates are validated.
    pub validation: Option<TlsValidation>,
}

/// A client certificate for mutual TLS (`clientPolicy.tls.certificate`): file or SDS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCertificate {
    /// `file {certificateChain, privateKey}`.
    File {
        /// Path of the chain.
        certificate_chain: String,
        /// Path of the key.
        private_key: String,
    },
    /// `sds.secretName`.
    Sds {
        /// SDS secret name.
        secret_name: String,
    },
}

/// `clientPolicy.tls`: how this Envoy talks TLS to a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// Default true.
    pub enforce: bool,
    /// Ports the policy applies to; empty means all.
    pub ports: Vec<u16>,
    /// Server certificate validation.
    pub validation: TlsValidation,
    /// Client certificate for mutual TLS.
    pub certificate: Option<ClientCertificate>,
}

/// `clientPolicy` (backend defaults or per backend).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// TLS client policy.
    pub tls: Option<ClientTls>,
}

/// `logging.accessLog.file.format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// An Envoy format string.
    Text(String),
    /// Key/value pairs, in order.
    Json(Vec<(String, String)>),
}

/// `logging.accessLog.file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileAccessLog {
    /// e.g. `/dev/stdout`.
    pub path: String,
    /// Optional format.
    pub format: Option<LogFormat>,
}

/// `logging`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logging {
    /// The access log, if any.
    pub access_log: Option<FileAccessLog>,
}
