#!/usr/bin/env bash
# Writes an App Mesh mesh (API JSON spelled in YAML) with N POST routes on one router and no
# retry policy, so every route is a `default-retries-non-idempotent` lint: the mesh behind
# the `meshsim check` folding figure in docs/PERFORMANCE.md.
#   scripts/many-routes.sh 5000 > /tmp/routes5000.yaml
set -euo pipefail
n=${1:-5000}
cat <<'HEAD'
meshName: big
spec: {}
---
meshName: big
virtualServiceName: cart.big.local
spec: { provider: { virtualRouter: { virtualRouterName: cart } } }
---
meshName: big
virtualRouterName: cart
spec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }
---
meshName: big
virtualNodeName: n0
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: n0.big.local } }
HEAD
for ((i = 0; i < n; i++)); do
  printf -- '---\nmeshName: big\nvirtualRouterName: cart\nrouteName: r%04d\nspec:\n  priority: %d\n  httpRoute:\n    match: { prefix: /p%d, method: POST }\n    action: { weightedTargets: [{ virtualNode: n0, weight: 1 }] }\n' "$i" $((i % 1001)) "$i"
done
