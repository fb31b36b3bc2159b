#!/usr/bin/env python3
"""Writes the seed corpus in tests/fuzz/corpus/<target>/ (realistic inputs, checked in).

Run from anywhere: python3 tests/fuzz/make_corpus.py. Each seed follows its target's input
format (see the comment at the top of each fuzz_*.cc): a few mode bytes, then text parts
separated by NUL bytes.
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = "00000000-0000-0000-0000-000000000000"
OTHER = "11111111-1111-1111-1111-111111111111"
L_CLUSTER = "mcp-connector.upbound.io/app-cluster"
L_NS = "mcp-connector.upbound.io/app-namespace"
L_NAME = "mcp-connector.upbound.io/app-resource-name"


def cp(name, ns, cluster=CLUSTER, prefix="claim-"):
    return prefix + hashlib.sha256(f"{name}-x-{ns}-x-{cluster}".encode()).hexdigest()[:16]


def write(target, items):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for i, data in enumerate(items):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, f"seed-{i:03d}"), "wb") as f:
            f.write(data)


def b(*parts):
    out = b""
    for p in parts:
        out += p if isinstance(p, bytes) else (bytes([p]) if isinstance(p, int) else p.encode())
    return out


def stored(name, ns, cluster=CLUSTER, extra=None, long_name=False):
    labels = {L_CLUSTER: cluster, L_NS: ns, L_NAME: name, "team": "a"}
    meta = {"name": cp(name, ns, cluster), "namespace": "claims", "uid": "0b1c", "resourceVersion": "42",
            "generation": 2, "creationTimestamp": "2026-11-21T10:00:00Z", "labels": labels,
            "annotations": {"mcp-connector.upbound.io/owner-references":
                            '[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u"}]',
                            "mcp-connector.upbound.io/connection-secret-name": "kubeconfig"},
            "finalizers": ["finalizer.apiextensions.crossplane.io"],
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {}}}]}
    if long_name:
        meta["annotations"][L_NAME] = name
    obj = {"apiVersion": "k8s.starter.org/v1alpha1", "kind": "KubernetesCluster", "metadata": meta,
           "spec": {"id": "my-cluster", "parameters": {"nodes": {"count": 3, "size": "small"},
                                                        "services": {"operators": {"prometheus": {"version": "34.5.1"}}}},
                    "compositionRef": {"name": "k8s"},
                    "resourceRef": {"apiVersion": "k8s.starter.org/v1alpha1", "kind": "XKubernetesCluster",
                                    "name": cp(name, ns, cluster) + "-x7k2p"},
                    "writeConnectionSecretToRef": {"name": "conn-0123456789abcdef"}},
           "status": {"conditions": [{"type": "Synced", "status": "True", "reason": "ReconcileSuccess",
                                      "lastTransitionTime": "2026-11-21T10:00:01Z"},
                                     {"type": "Ready", "status": "False", "reason": "Creating"}]}}
    if extra:
        obj.update(extra)
    return obj


def j(o):
    return json.dumps(o, separators=(",", ":"))


APP_CLAIM = {"apiVersion": "k8s.starter.org/v1alpha1", "kind": "KubernetesCluster",
             "metadata": {"name": "my-cluster", "namespace": "default", "labels": {"team": "a"},
                          "annotations": {"note": "x"},
                          "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                               "name": "app", "uid": "1234", "controller": True}]},
             "spec": {"id": "my-cluster", "parameters": {"nodes": {"count": 3, "size": "small"}},
                      "compositionSelector": {"matchLabels": {"provider": "civo"}},
                      "writeConnectionSecretToRef": {"name": "cluster-details-my-cluster"}}}
APP_CLAIM_YAML = """apiVersion: k8s.starter.org/v1alpha1
kind: KubernetesCluster
metadata:
  name: my-cluster
  namespace: default
  labels: {team: a}
spec:
  id: my-cluster
  parameters:
    nodes:
      count: 3
      size: small
  compositionSelector:
    matchLabels:
      provider: civo
  writeConnectionSecretToRef:
    name: cluster-details-my-cluster
"""


def request_info():
    paths = ["/api", "/apis", "/api/v1", "/apis/k8s.starter.org/v1alpha1",
             "/api/v1/namespaces", "/api/v1/namespaces/other", "/api/v1/namespaces/other/pods",
             "/api/v1/namespaces/other/pods/foo", "/api/v1/namespaces/other/pods/foo/status",
             "/api/v1/pods", "/api/v1/namespaces/other/pods/foo/proxy/subpath",
             "/api/v1/watch/pods", "/api/v1/pods?watch=true", "/api/v1/pods?watch=false",
             "/api/v1/watch/namespaces/other/pods", "/api/v1/namespaces/other/pods?watch=1",
             "/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo",
             "/api/v1/namespaces/other/pods?watch=true&fieldSelector=metadata.name=foo",
             "/apis/extensions/v1beta1/namespaces/other/ingresses",
             "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters",
             "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters/my-cluster",
             "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters/my-cluster/status",
             "/apis/k8s.starter.org/v1alpha1/kubernetesclusters?labelSelector=team%3Da&limit=500",
             "/apis/k8s.starter.org/v1alpha1/watch/namespaces/default/kubernetesclusters/my-cluster",
             "/api/v1/namespaces/other/pods/foo?fieldSelector=metadata.name%3D%3Dbar",
             "/api/v1/watch", "/api/v1/namespaces/default/watch", "/api/v1/namespaces/",
             "/api/v1/namespaces//pods", "/apis/g/v/namespaces/n/r/a/b/c/d", "/healthz", "/readyz?verbose",
             "/openapi/v3/apis/k8s.starter.org/v1alpha1", "/api/v1/proxy/nodes/n1"]
    out = []
    for i, p in enumerate(paths):
        out.append(b(i % 7, p))
    out.append(b(4, "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters"))
    out.append(b(0, "/api/v1/namespaces/%2e%2e/pods/%2F"))
    return out


def selectors():
    labels = ["", "a=b", "a==b", "a!=b", "a in (b,c)", "a notin (b,c)", "a", "!a", "a>1", "a<1",
              "env in (prod, qa),tier notin (frontend),!partition,app",
              "x=a,x!=b,x in (a)", "example.com/key=value,k8s.io/app-name",
              "mcp-connector.upbound.io/app-cluster=" + OTHER,
              "mcp-connector.upbound.io/app-namespace in (a,b)",
              "team=a,mcp-connector.upbound.io/app-resource-name=foo",
              "a=(b", "a in (", "=b", "a,,b", "a in ()", "a=b c", "a = b", "a in(b)",
              "key.with-dots/and_under=v-1.2_3"]
    fields = ["", "metadata.name=foo", "metadata.name==foo", "metadata.name!=foo",
              "metadata.namespace=other", "metadata.namespace!=default,metadata.name=x",
              "metadata.name=a\\,b", "metadata.name=a\\=b\\\\", "spec.foo=bar", "status.phase!=Running",
              "metadata.name=", "metadata.name", "metadata.name=a,foo", "=x", "metadata.name=a\\"]
    out = []
    for i, l in enumerate(labels):
        f = fields[i % len(fields)]
        for mode in range(3):
            out.append(b(mode, 0x10 | 0x20 | (i % 5), l, b"\0", f, b"\0", ["", "default", "test"][i % 3]))
    for i, f in enumerate(fields):
        out.append(b(2, 0x30 | (i % 3), "team=a", b"\0", f, b"\0", "default"))
    return out


def json_seeds():
    return [j(stored("my-cluster", "default")), "{}", "[]", "null", "1e400", '"\\u0000\\ud800"',
            '{"a":{"b":[1,2,{"c":null}]},"a":2}', j(APP_CLAIM), "-0", "[1.5e-10, true, false]",
            '{"metadata":"x","items":{}}']


def translate_request():
    out = []
    claim = j(APP_CLAIM)
    gen = j({**APP_CLAIM, "metadata": {"generateName": "my-cluster-", "namespace": "default"}})
    status_update = j({**stored("my-cluster", "default"), "metadata": {"name": "my-cluster", "namespace": "default", "resourceVersion": "42"}})
    long_name = "a" * 70 + ".b" * 20
    out.append(b(0, "default", b"\0", b"\0", claim))                # create JSON
    out.append(b(0, "default", b"\0", b"\0", gen))                  # create generateName
    out.append(b(0, "default", b"\0", b"\0", j({**APP_CLAIM, "metadata": {"name": long_name}})))
    out.append(b(1, "default", b"\0", b"\0", APP_CLAIM_YAML))       # create YAML
    out.append(b(0x20, "default", b"\0", "my-cluster", b"\0", claim))  # update
    out.append(b(0xa0, "default", b"\0", "my-cluster", b"\0", status_update))  # update status
    out.append(b(4, "default", b"\0", "my-cluster", b"\0", APP_CLAIM_YAML))  # apply
    out.append(b(0x42, "default", b"\0", "my-cluster", b"\0",
                 j({"metadata": {"labels": {"team": "b", "gone": None}, "annotations": None},
                    "spec": {"writeConnectionSecretToRef": {"name": "s2"}}})))
    out.append(b(0x42, "default", b"\0", "my-cluster", b"\0", j({"metadata": {"labels": None}})))
    out.append(b(0x42, "default", b"\0", "my-cluster", b"\0",
                 j({"metadata": {"labels": {L_CLUSTER: OTHER}}})))
    out.append(b(0x43, "default", b"\0", "my-cluster", b"\0",
                 j([{"op": "replace", "path": "/spec/parameters/nodes/count", "value": 5},
                    {"op": "add", "path": "/metadata/labels/team", "value": "b"},
                    {"op": "remove", "path": "/metadata/annotations/note"},
                    {"op": "test", "path": "/metadata/name", "value": "my-cluster"},
                    {"op": "replace", "path": "/spec/writeConnectionSecretToRef/name", "value": "x"},
                    {"op": "move", "from": "/spec/a", "path": "/spec/b"},
                    {"op": "copy", "from": "/spec/a", "path": "/metadata/labels"}])))
    out.append(b(0x43, "default", b"\0", "my-cluster", b"\0",
                 j([{"op": "add", "path": "/metadata/labels/mcp-connector.upbound.io~1app-cluster", "value": OTHER}])))
    out.append(b(0x43, "default", b"\0", "my-cluster", b"\0", j([{"op": "replace", "path": "/metadata", "value": {}}])))
    out.append(b(0x03, "default", b"\0", "my-cluster", b"\0", j([{"op": "add", "path": "/metadata/ownerReferences/-", "value": {"name": "x"}}])))
    out.append(b(0, "default", b"\0", b"\0", j({**APP_CLAIM, "metadata": {"name": "x", "namespace": "other"}})))
    out.append(b(0, "default", b"\0", b"\0", j({**APP_CLAIM, "apiVersion": "v1", "kind": "Pod"})))
    out.append(b(0, "default", b"\0", b"\0", '{"metadata":null,"kind":null,"apiVersion":5}'))
    out.append(b(1, "default", b"\0", b"\0", "a: &x [*x]\nb: !!binary aGVsbG8=\nc: ~\nd: 0x1F\ne: .inf\n"))
    return out


def table(rows_objs, include_object=True):
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "SYNCED", "type": "string", "format": "", "description": "", "priority": 0},
            {"name": "READY", "type": "string", "format": "", "description": "", "priority": 0},
            {"name": "CONNECTION-SECRET", "type": "string", "format": "", "description": "", "priority": 0},
            {"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}]
    rows = []
    for o in rows_objs:
        row = {"cells": [o["metadata"]["name"], "True", "False", "conn-0123456789abcdef", "5m"]}
        if include_object:
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "43"},
            "columnDefinitions": cols, "rows": rows}


def lst(items):
    return {"apiVersion": "k8s.starter.org/v1alpha1", "kind": "KubernetesClusterList",
            "metadata": {"resourceVersion": "43", "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"},
            "items": items}


def translate_response():
    mine = stored("my-cluster", "default")
    theirs = stored("my-cluster", "default", OTHER)
    long = stored("a" * 80, "default", long_name=True)
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": f'kubernetesclusters.k8s.starter.org "{cp("my-cluster", "default")}" not found',
              "reason": "NotFound", "details": {"name": cp("my-cluster", "default"),
                                               "group": "k8s.starter.org", "kind": "kubernetesclusters"},
              "code": 404}
    conflict = {**status, "reason": "Conflict", "code": 409, "message": "Operation cannot be fulfilled",
                "details": {"causes": [{"reason": "FieldValueInvalid", "field": "metadata.name", "message": "x"}]}}
    pom = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": mine["metadata"]}
    poml = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "items": [pom]}
    out = []
    for mode in (0, 0x40):
        out += [b(mode, j(mine)), b(mode, j(lst([mine, theirs, long]))), b(mode, j(table([mine, theirs]))),
                b(mode, j(status)), b(mode, j(poml)), b(mode, j(table([mine], False)))]
    out += [b(1, j(mine)), b(1, j(theirs)), b(1, j(long)), b(1, j(pom)), b(0x81, j(stored("x", "y")))]
    out += [b(2, j(mine)), b(2, j(theirs))]
    for ev in ("ADDED", "MODIFIED", "DELETED"):
        out.append(b(3, j({"type": ev, "object": mine})))
    out.append(b(3, j({"type": "BOOKMARK", "object": {"kind": "KubernetesCluster", "apiVersion": "k8s.starter.org/v1alpha1",
                                                         "metadata": {"resourceVersion": "50", "annotations": {"k8s.io/initial-events-end": "true"}}}})))
    out.append(b(3, j({"type": "ERROR", "object": {**status, "reason": "Expired", "code": 410,
                                                     "message": "too old resource version: 1 (40)"}})))
    out.append(b(0x43, j({"type": "ADDED", "object": table([mine])})))
    t = table([mine])
    out.append(b(4, j(t["columnDefinitions"]), b"\0", j(t["rows"][0])))
    out.append(b(0x44, b"\0", j(t["rows"][0])))
    out += [b(5, j(status)), b(0x45, j(conflict)), b(5, "not json"), b(5, "")]
    # Single-object responses (the DOM-free path first): another cluster's, long names, metadata only.
    out += [b(0, j(theirs)), b(0x40, j(long)), b(0, j(pom)), b(0x80, j(stored("x", "y")))]
    return out


def list_splitter():
    mine = stored("my-cluster", "default")
    theirs = stored("other", "default", OTHER)
    docs = [j(lst([mine, theirs])), j(table([mine, theirs])), j(lst([])),
            json.dumps(lst([mine]), indent=2), '{"items":[1,"a\\"]",{"x":[]},null],"kind":"List"}',
            '{"a":"\\u005d","rows":[[],{}]}  \n', '{"items":[', '{"items":[1,]}', '{}', ' {"x":{"items":[1]}}']
    out = []
    for i, d in enumerate(docs):
        out.append(b(0, 1 + i, d))
        out.append(b(2, 5, d))
    out.append(b(1, 3, docs[0]))
    return out


def watch_decoder():
    mine = stored("my-cluster", "default")
    theirs = stored("x", "default", OTHER)
    evs = [j({"type": "ADDED", "object": mine}), j({"type": "MODIFIED", "object": theirs}),
           j({"type": "DELETED", "object": mine}),
           j({"type": "BOOKMARK", "object": {"kind": "KubernetesCluster", "metadata": {"resourceVersion": "9"}}}),
           j({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})]
    stream = "\n".join(evs) + "\n"
    return [b(7, 0, stream), b(1, 0, stream), b(3, 0, evs[0] + evs[1]), b(5, 0, '{"a":"}\\"{"}\n{"b":1}'),
            b(2, 1, stream), b(9, 0, '{"type":"ADDED"} x'), b(4, 0, '  \r\n\t{}{}\n{')]


CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDEwxmdXp6LXNl
ZWQtY2EwHhcNMjYwMTAxMDAwMDAwWhcNMzYwMTAxMDAwMDAwWjAXMRUwEwYDVQQD
-----END CERTIFICATE-----
"""


def kubeconfig():
    import base64
    ca = base64.b64encode(CA_PEM.encode()).decode()
    full = f"""apiVersion: v1
kind: Config
current-context: cp
clusters:
- name: cp
  cluster:
    server: https://127.0.0.1:6443/apis/spaces.upbound.io/v1beta1/namespaces/default/controlplanes/ctp1/k8s
    certificate-authority-data: {ca}
    tls-server-name: kubernetes
- name: other
  cluster:
    server: https://other.example.com
    insecure-skip-tls-verify: true
users:
- name: cp
  user:
    token: seed-token-value
- name: certs
  user:
    client-certificate-data: {ca}
    client-key-data: {ca}
- name: file
  user:
    tokenFile: token
    client-certificate: cert.pem
    client-key: key.pem
contexts:
- name: cp
  context: {{cluster: cp, user: cp, namespace: default}}
- name: other
  context: {{cluster: other, user: certs}}
- name: file
  context: {{cluster: other, user: file}}
"""
    return [full, "#other\n" + full, "#file\n" + full, "#missing\n" + full,
            "apiVersion: v1\nkind: Config\nclusters: []\n", "", "clusters: {a: b}\ncurrent-context: [x]\n",
            "clusters:\n- name: a\n  cluster: {server: 'http://x', certificate-authority-data: '!!notb64'}\n"
            "users:\n- name: a\n  user: {token: 5}\ncontexts:\n- {name: a, context: {cluster: a, user: a}}\ncurrent-context: a\n",
            "current-context: a\ncontexts:\n- name: a\n  context: {cluster: nope}\n"]


def authn():
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
          "data": {"client-ca-file": CA_PEM, "requestheader-client-ca-file": CA_PEM,
                   "requestheader-allowed-names": '["front-proxy-client"]',
                   "requestheader-username-headers": '["X-Remote-User"]',
                   "requestheader-uid-headers": '["X-Remote-Uid"]',
                   "requestheader-group-headers": '["X-Remote-Group"]',
                   "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]'}}
    bad = {"data": {"requestheader-allowed-names": '[1,{"a":2}]', "requestheader-username-headers": "x",
                    "requestheader-group-headers": "[\"a\"", "client-ca-file": 7}}
    tr = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
          "status": {"authenticated": True, "user": {"username": "alice", "uid": "1", "groups": ["dev", "system:authenticated"],
                                                       "extra": {"scopes.example.com": ["a", "b"]}},
                     "audiences": ["https://kubernetes.default.svc"]}}
    return [b(0, j(cm)), b(2, j(bad)), b(0, '{"data":null}'), b(0, '{"data":{"client-ca-file":""}}'),
            b(1, j(tr)), b(1, '{"status":{"authenticated":false,"error":"invalid token"}}'),
            b(1, '{"status":{"authenticated":true,"user":{"username":5,"groups":"x","extra":{"a":"b"}}}}'),
            b(1, '{"status":"x"}'), b(1, "[]")]


def naming_seeds():
    return [b("my-bucket\0test\0", CLUSTER), b("a" * 253, "\0", "n" * 63, "\0", CLUSTER),
            b("a" * 600, "\0x\0y"), b("My_Bucket\0Test\0"), b("a.b-c.d\0ns\0c1"), b("-a\0-b\0-"),
            b("x" * 64, "\0default\0cluster-a"), b("\0\0"), b("a..b\0a.b\0c")]


def main():
    write("fuzz_request_info", request_info())
    write("fuzz_selectors", selectors())
    write("fuzz_json", json_seeds())
    write("fuzz_translate_request", translate_request())
    write("fuzz_translate_response", translate_response())
    write("fuzz_list_splitter", list_splitter())
    write("fuzz_watch_decoder", watch_decoder())
    write("fuzz_kubeconfig", kubeconfig())
    write("fuzz_authn_configmap", authn())
    write("fuzz_naming", naming_seeds())


if __name__ == "__main__":
    main()
