#!/usr/bin/env python3
"""Do the ledger and the Rego port answer the same decisions?

    bench/opa/agree.py --data read_model.json [-n 300] [--prefix bench]
        [--query-url http://127.0.0.1:8082] [--opa-url http://127.0.0.1:8181]
        [--token dev-platform-admin] [--seed 1]

Draws N decision inputs from the exported read model (bench/opa/export.sh):
random projects (of --prefix when given), requesters (one of the project's
principals, the project itself, or another project's principal, which the
ledger answers as the project), a dimension with a rule on the chain (or any
registered one), usage and delta around the smallest ceiling on the chain,
now and then without a department or unit, or with scope_window `request`.
Each goes to POST /v1/decisions on ledger-query and to
POST /v1/data/ledger/admission/decision on OPA; the fields the port covers
are compared (decision, reason_code, user_message, effective_ceiling,
matched_rules, limit_remaining, available, reserved_for_others,
registry_versions, evidence.correlation_id; an error answer by its code).
snapshot_version and as_of are not compared: the ledger answers at its
current position, the port at the exported one (noted when they differ).

Exit 0 when every answer agrees; else prints the first differing input and
both answers and exits 1. Standard library only.
"""

import argparse
import http.client
import json
import random
import sys
import urllib.parse

COMPARED = (
    "decision",
    "reason_code",
    "user_message",
    "effective_ceiling",
    "matched_rules",
    "limit_remaining",
    "available",
    "reserved_for_others",
    "registry_versions",
)


class Endpoint:
    """One keep-alive HTTP connection to a base URL."""

    def __init__(self, url, headers):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.headers = dict(headers, **{"content-type": "application/json"})
        self.conn = None

    def post(self, path, body):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
                r = self.conn.getresponse()
                return r.status, json.loads(r.read() or b"null")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


def level_id(key):
    if key == "global":
        return "global", ""
    level, _, ident = key.partition(":")
    return level, ident


def draw(rm, rng, prefix, n):
    nodes = rm["nodes"]
    projects = sorted(k for k in nodes if k.startswith("project:") and level_id(k)[1].startswith(prefix))
    if not projects:
        sys.exit(f"agree: no project{' with prefix ' + prefix if prefix else ''} in the exported read model")
    principals = {}
    for k, node in nodes.items():
        if k.startswith("principal:") and len(node["chain"]) > 1:
            principals.setdefault(node["chain"][1], []).append(k)
    all_principals = sorted(p for ps in principals.values() for p in ps)
    dimensions = sorted(rm["registry"].get("quota_dimension", {}))
    if not dimensions:
        sys.exit("agree: no quota_dimension in the exported read model")
    for i in range(n):
        project = rng.choice(projects)
        chain = nodes[project]["chain"]
        org = next(level_id(k)[1] for k in chain if k.startswith("organization:"))
        department = level_id(chain[1])[1] if chain[1].startswith("department:") else ""
        on_chain = sorted({d for k in chain for d in rm["rules"].get(k, {})})
        dimension = rng.choice(on_chain) if on_chain and rng.random() < 0.85 else rng.choice(dimensions)
        entry = rm["registry"]["quota_dimension"][dimension]
        attrs = entry.get("attributes", {})
        ceilings = [
            r["quantity"]
            for k in chain
            for r in rm["rules"].get(k, {}).get(dimension, [])
            if r["window"] == "" and r["region"] == "" and r["sku_or_model"] == ""
        ]
        ceiling = min(ceilings) if ceilings else 1000
        usage = rng.randint(0, max(1, ceiling * 115 // 100))
        delta = 0 if rng.random() < 0.03 else rng.randint(1, max(1, ceiling // 50))
        pick = rng.random()
        own = principals.get(project, [])
        if own and pick < 0.8:
            actor = level_id(rng.choice(own))[1]
        elif all_principals and pick < 0.9:
            actor = level_id(rng.choice(all_principals))[1]  # another project's: the project decides
        else:
            actor = level_id(project)[1]
        unit = attrs.get("unit", "") if rng.random() < 0.9 else ""
        yield {
            "actor": {
                "actor_type": rng.choice(["user", "service_account", "api_key"]),
                "actor_id": actor,
                "roles": ["developer"],
                "scopes": ["quota:check"],
            },
            "hierarchy": {
                "organization_id": org,
                "department_id": department if rng.random() < 0.9 else "",
                "project_id": level_id(project)[1],
            },
            "product": {
                "product_id": attrs.get("product", ""),
                "resource_type": attrs.get("resource_type", ""),
                "resource_id": f"vm-{i}",
                "action": "provision",
            },
            "request": {"dimension": dimension, "requested_delta": delta, "unit": unit},
            "current_usage": {
                "scope_window": "request" if rng.random() < 0.05 else "",
                "quantity": usage,
                "unit": unit,
            },
            "registry_versions": {},
            "correlation_id": f"agree-{i}",
        }


def compared(status, answer):
    if status != 200 or not isinstance(answer, dict):
        return {"status": status, "answer": answer}
    if "error" in answer:
        return {"error": answer["error"].get("code")}
    out = {k: answer.get(k) for k in COMPARED}
    out["correlation_id"] = (answer.get("evidence") or {}).get("correlation_id")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the exported read model (bench/opa/export.sh)")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--prefix", default="", help="draw only projects whose id starts with it")
    ap.add_argument("--query-url", default="http://127.0.0.1:8082")
    ap.add_argument("--opa-url", default="http://127.0.0.1:8181")
    ap.add_argument("--opa-path", default="/v1/data/ledger/admission/decision")
    ap.add_argument("--token", default="dev-platform-admin")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with open(args.data) as f:
        rm = json.load(f)
    ledger = Endpoint(args.query_url, {"authorization": f"Bearer {args.token}"})
    opa = Endpoint(args.opa_url, {})
    counts, positions = {}, set()
    for i, decision_input in enumerate(draw(rm, random.Random(args.seed), args.prefix, args.n)):
        ls, la = ledger.post("/v1/decisions", decision_input)
        if ls != 200 and isinstance(la, dict) and "error" in la:
            la = {"error": la["error"]}  # the ledger's errors carry their HTTP status; the port's are in the body
            ls = 200
        os_, oa = opa.post(args.opa_path, {"input": decision_input})
        oa = oa.get("result") if isinstance(oa, dict) else oa
        lc, oc = compared(ls, la), compared(os_, oa)
        if lc != oc:
            print(f"agree: input {i + 1} of {args.n} differs", file=sys.stderr)
            print("input:  " + json.dumps(decision_input, sort_keys=True), file=sys.stderr)
            print("ledger: " + json.dumps(lc, sort_keys=True), file=sys.stderr)
            print("opa:    " + json.dumps(oc, sort_keys=True), file=sys.stderr)
            diff = sorted(k for k in set(lc) | set(oc) if lc.get(k) != oc.get(k))
            print("fields that differ: " + ", ".join(diff), file=sys.stderr)
            print("full ledger answer: " + json.dumps(la, sort_keys=True), file=sys.stderr)
            print("full opa answer:    " + json.dumps(oa, sort_keys=True), file=sys.stderr)
            return 1
        key = lc.get("reason_code") or ("error " + str(lc.get("error")))
        counts[key] = counts.get(key, 0) + 1
        if isinstance(la, dict) and "snapshot_version" in la:
            positions.add(la["snapshot_version"])
    split = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"agree: all {args.n} inputs answered alike by the ledger and OPA ({split})")
    if positions and positions != {rm["position"]}:
        print(
            f"agree: note: the ledger answered at position(s) {sorted(positions)}, the export is at {rm['position']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
