//! How each syntax spells the API's field names.
//!
//! CloudFormation uses PascalCase with a few all-capital members (`DNS`, `TLS`, `AWSCloudMap`,
//! `HTTP2`); the API and the Kubernetes CRDs use camelCase. The importers rewrite keys to the
//! API spelling, and the decoder spells field names back in the user's syntax in messages.

/// The syntax whose spelling messages should use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// camelCase: API JSON and Kubernetes.
    Api,
    /// PascalCase with CloudFormation's exceptions.
    CloudFormation,
}

impl Spelling {
    /// `api` as this syntax writes it.
    pub(crate) fn spell(self, api: &str) -> String {
        match self {
            Spelling::Api => api.to_string(),
            Spelling::CloudFormation => cfn_key(api),
        }
    }
}

/// Keys CloudFormation spells in capitals (API spelling on the left).
const IRREGULAR: &[(&str, &str)] = &[
    ("dns", "DNS"),
    ("tls", "TLS"),
    ("acm", "ACM"),
    ("sds", "SDS"),
    ("grpc", "GRPC"),
    ("http", "HTTP"),
    ("http2", "HTTP2"),
    ("tcp", "TCP"),
    ("awsCloudMap", "AWSCloudMap"),
];

/// The API spelling of a CloudFormation key.
pub(crate) fn api_key(cfn: &str) -> String {
    if let Some((api, _)) = IRREGULAR.iter().find(|(_, c)| *c == cfn) {
        return api.to_string();
    }
    if cfn.len() > 1
        && cfn
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return cfn.to_ascii_lowercase();
    }
    let mut out = cfn.to_string();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    out
}

/// The CloudFormation spelling of an API key.
pub(crate) fn cfn_key(api: &str) -> String {
    if let Some((_, cfn)) = IRREGULAR.iter().find(|(a, _)| *a == api) {
        return cfn.to_string();
    }
    let mut out = api.to_string();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for (cfn, api) in [
            ("HttpRoute", "httpRoute"),
            ("DNS", "dns"),
            ("AWSCloudMap", "awsCloudMap"),
            ("HTTP2", "http2"),
            ("IpPreference", "ipPreference"),
            ("CertificateAuthorityArns", "certificateAuthorityArns"),
        ] {
            assert_eq!(api_key(cfn), api);
            assert_eq!(cfn_key(api), cfn);
        }
        // A camelCase key maps to itself and its CloudFormation spelling differs: flagged.
        assert_eq!(cfn_key(&api_key("maxServerErrors")), "MaxServerErrors");
        // `Dns` is not how CloudFormation spells it either.
        assert_eq!(cfn_key(&api_key("Dns")), "DNS");
    }
}
