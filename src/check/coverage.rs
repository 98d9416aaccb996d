//! Route coverage: how many generated requests each route of each router matched, so a user
//! can see the generator reached every route (and which it did not).

use std::collections::BTreeMap;

use proptest::strategy::{Strategy, ValueTree};

use super::CheckError;
use super::property::runner;
use super::subject::MeshUnderTest;

/// Requests matched per route, by virtual service then route (evaluation order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Per virtual service with a router: each route and the requests it matched.
    pub services: BTreeMap<String, Vec<(String, u32)>>,
    /// Requests per service.
    pub cases: u32,
}

impl Coverage {
    /// Routes no request matched, as `service/route`.
    pub fn uncovered(&self) -> Vec<String> {
        self.services
            .iter()
            .flat_map(|(s, routes)| {
                routes
                    .iter()
                    .filter(|(_, n)| *n == 0)
                    .map(move |(r, _)| format!("{s}/{r}"))
            })
            .collect()
    }

    /// Routes matched at least once, and routes in all.
    pub fn counts(&self) -> (usize, usize) {
        let all = self.services.values().map(Vec::len).sum();
        (all - self.uncovered().len(), all)
    }
}

/// Generates `cases` requests per routed virtual service (the same strategies properties
/// use) and counts the route each one matched.
pub fn coverage(subject: &MeshUnderTest, seed: u64, cases: u32) -> Result<Coverage, CheckError> {
    let mut out = Coverage {
        services: BTreeMap::new(),
        cases,
    };
    let names: Vec<String> = subject.services().map(str::to_string).collect();
    for service in names {
        let info = subject.info(&service)?;
        if info.router.is_none() {
            continue;
        }
        let mut counts: Vec<(String, u32)> =
            info.routes.iter().map(|(n, _)| (n.clone(), 0)).collect();
        let strategy = subject.requests(&service)?;
        let mut r = runner(seed, &format!("coverage/{service}"), cases);
        for _ in 0..cases {
            let Ok(tree) = strategy.new_tree(&mut r) else {
                break;
            };
            if let Some(route) = subject.evaluate(&service, &tree.current()).route
                && let Some(slot) = counts.iter_mut().find(|(n, _)| *n == route)
            {
                slot.1 += 1;
            }
        }
        out.services.insert(service, counts);
    }
    Ok(out)
}
