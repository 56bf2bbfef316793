#!/usr/bin/python3
"""A fake Kubernetes API server for the k8s target's tests (loopback only).

It follows the real API where skiff depends on it: discovery documents,
server-side apply (PATCH application/apply-patch+yaml with fieldManager;
create answers 201, update 200; field ownership per manager, 409 Conflict
with FieldManagerConflict causes unless force=true), resourceVersion and
generation, list + watch (resourceVersion, label and field selectors,
timeoutSeconds; 410 Gone for an expired resourceVersion), delete with cascading to pods, Status
objects for errors (401, 404, 409, 422), and pod logs (follow streams until
the container ends).

It answers as kube-apiserver 1.20 does where a client can tell: the items
of a list carry no kind or apiVersion, the log of a pod that has not started
is 204 No Content, apply conflicts have the real message (one line for one
conflict, a line per field for several), and a namespace that does not exist
is 404 (only "default" and "team" exist).

Its controllers stand in for the cluster's: a Job starts one pod (after
--pod-seconds; Pending, with no log, for --start-seconds more) and, after
--job-seconds, completes, or fails when its command contains "exit 1"; a
Deployment rolls out its replicas after --rollout-seconds (or reports
ProgressDeadlineExceeded when its command contains "exit 1", or never does,
its pods in CrashLoopBackOff, when it contains "crash"); TFJob and
PyTorchJob succeed; a SparkApplication completes.

Control endpoints for tests (no auth): POST /fake/seed?manager=M (an object,
owned by M as an Update), POST /fake/reject (JSON {plural, name, field,
message}: the next applies of it are 422 Invalid), GET /fake/requests.

Usage: fake_apiserver.py --port-file FILE [--token T] [--tls-cert C --tls-key K
[--client-ca CA]] [--job-seconds S] [--rollout-seconds S] [--drop-watches N]
[--expire-watches N] [--pod-seconds S] [--start-seconds S] [--no-crds]
"""
import argparse
import copy
import json
import random
import socket
import ssl
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

RESOURCES = {
    "v1": [("pods", "Pod"), ("secrets", "Secret"), ("services", "Service")],
    "apps/v1": [("deployments", "Deployment")],
    "batch/v1": [("jobs", "Job")],
    "kubeflow.org/v1": [("tfjobs", "TFJob"), ("pytorchjobs", "PyTorchJob")],
    "sparkoperator.k8s.io/v1beta2": [("sparkapplications", "SparkApplication")],
}
NAMESPACES = ("default", "team")
CRD_GROUPS = ("kubeflow.org/v1", "sparkoperator.k8s.io/v1beta2")
SYSTEM_FIELDS = {("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",)}


def status(code, reason, message, causes=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if causes:
        body["details"] = {"causes": causes}
    return code, body


def leaves(value, prefix=()):
    """The leaf field paths of an object, as tuples (list items are leaves)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, prefix + (key,))
    else:
        yield prefix


def get_path(obj, path):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def delete_path(obj, path):
    for key in path[:-1]:
        if not isinstance(obj, dict) or key not in obj:
            return
        obj = obj[key]
    if isinstance(obj, dict):
        obj.pop(path[-1], None)


def merge(base, patch):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def matches(obj, label_selector, field_selector):
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, label_selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, field_selector.split(",")):
        key, _, value = term.partition("=")
        if get_path(obj, tuple(key.split("."))) != value:
            return False
    return True


class Cluster:
    """The objects, their owners, the event history and the controllers."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Condition()
        self.version = 100
        self.objects = {}   # (apiVersion, plural, namespace, name) -> object
        self.owners = {}    # same key -> {manager: set(paths)}
        self.events = []    # (resourceVersion, apiVersion, plural, namespace, type, object)
        self.logs = {}      # (namespace, pod) -> [lines]
        self.finished = set()  # (namespace, pod) whose container ended
        self.rejects = {}   # (plural, name) -> (field, message)
        self.proxies = {}   # service name -> a loopback port standing in for its pods
        self.requests = []

    def kind_of(self, api_version, plural):
        return dict(RESOURCES.get(api_version, [])).get(plural)

    def record(self, api_version, plural, namespace, event_type, obj):
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.events.append((self.version, api_version, plural, namespace, event_type,
                            copy.deepcopy(obj)))
        self.lock.notify_all()

    def store(self, api_version, plural, namespace, obj, event_type):
        self.objects[(api_version, plural, namespace, obj["metadata"]["name"])] = obj
        self.record(api_version, plural, namespace, event_type, obj)

    def apply(self, api_version, plural, namespace, name, applied, manager, force, operation):
        key = (api_version, plural, namespace, name)
        if (plural, name) in self.rejects:
            field, message = self.rejects[(plural, name)]
            kind = self.kind_of(api_version, plural)
            return status(422, "Invalid", f'{kind} "{name}" is invalid: {field}: {message}',
                          [{"reason": "FieldValueInvalid", "message": message, "field": field}])
        if applied.get("metadata", {}).get("name") != name:
            return status(400, "BadRequest", "the name of the object does not match the URL")
        if applied.get("kind") != self.kind_of(api_version, plural):
            return status(400, "BadRequest", f"kind {applied.get('kind')} does not match {plural}")
        paths = {p for p in leaves(applied) if p[:2] not in SYSTEM_FIELDS and p not in SYSTEM_FIELDS}
        existing = self.objects.get(key)
        owners = self.owners.setdefault(key, {})
        if existing is not None and not force:
            conflicts = [(other, p) for other, owned in sorted(owners.items()) if other != manager
                         for p in sorted(owned & paths)
                         if get_path(existing, p) != get_path(applied, p)]
            if conflicts:
                return self.conflict(existing, api_version, conflicts)
        if existing is None:
            obj = copy.deepcopy(applied)
            obj["metadata"].update({"namespace": namespace, "uid": str(uuid.uuid4()),
                                    "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "generation": 1})
            owners[manager] = paths
            self.set_managed_fields(obj, owners, api_version, operation)
            self.store(api_version, plural, namespace, obj, "ADDED")
            self.on_created(api_version, plural, namespace, obj)
            return 201, obj
        if plural == "jobs" and existing["spec"].get("template") != applied.get("spec", {}).get(
                "template", existing["spec"].get("template")):
            return status(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template: '
                          "Invalid value: field is immutable",
                          [{"reason": "FieldValueInvalid", "field": "spec.template",
                            "message": "Invalid value: field is immutable"}])
        obj = copy.deepcopy(existing)
        for p in owners.get(manager, set()) - paths:
            delete_path(obj, p)
        merge(obj, applied)
        for other in owners:
            if other != manager:
                owners[other] -= paths  # forced, or the same values: shared or taken over
        owners[manager] = paths
        self.set_managed_fields(obj, owners, api_version, operation)
        if obj == existing:
            return 200, obj  # a no-op apply changes nothing, not even resourceVersion
        if obj.get("spec") != existing.get("spec"):
            obj["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
        self.store(api_version, plural, namespace, obj, "MODIFIED")
        if plural == "deployments" and obj.get("spec") != existing.get("spec"):
            self.start_rollout(namespace, obj)
        return 200, obj

    @staticmethod
    def conflict(existing, api_version, conflicts):
        """409 as kube-apiserver words it (fieldmanager's NewConflictError)."""
        def manager_text(manager):  # an Update's manager is named with its apiVersion
            for entry in existing["metadata"].get("managedFields", []):
                if entry["manager"] == manager and entry["operation"] == "Update":
                    return f'"{manager}" using {entry["apiVersion"]}'
            return f'"{manager}"'
        causes = [{"reason": "FieldManagerConflict", "field": "." + ".".join(p),
                   "message": f"conflict with {manager_text(m)}"} for m, p in conflicts]
        if len(conflicts) == 1:
            m, p = conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {manager_text(m)}: ." + \
                ".".join(p)
        else:
            lines = []
            for manager in sorted({m for m, _ in conflicts}):
                lines.append(f"conflicts with {manager_text(manager)}:")
                lines += ["- ." + ".".join(p) for m, p in conflicts if m == manager]
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
        return status(409, "Conflict", message, causes)

    @staticmethod
    def set_managed_fields(obj, owners, api_version, operation):
        obj["metadata"]["managedFields"] = [
            {"manager": manager, "operation": "Apply" if manager == "skiff" else operation,
             "apiVersion": api_version, "fieldsType": "FieldsV1", "fieldsV1": {},
             "time": "2026-11-30T12:00:00Z"}
            for manager, owned in sorted(owners.items()) if owned]

    def delete(self, api_version, plural, namespace, name):
        key = (api_version, plural, namespace, name)
        obj = self.objects.pop(key, None)
        self.owners.pop(key, None)
        if obj is None:
            return status(404, "NotFound", f'{plural} "{name}" not found')
        self.record(api_version, plural, namespace, "DELETED", obj)
        uid = obj["metadata"]["uid"]
        for pod_key, pod in list(self.objects.items()):
            if pod_key[1] == "pods" and any(ref.get("uid") == uid for ref in
                                            pod["metadata"].get("ownerReferences", [])):
                del self.objects[pod_key]
                self.finished.add((namespace, pod_key[3]))
                self.record("v1", "pods", namespace, "DELETED", pod)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                     "details": {"name": name, "kind": plural}}

    # --- controllers -------------------------------------------------------

    def later(self, seconds, action):
        def run():
            with self.lock:
                action()
        timer = threading.Timer(seconds, run)
        timer.daemon = True
        timer.start()

    def make_pod(self, namespace, owner, pod_name, template, lines):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": namespace, "uid": str(uuid.uuid4()),
                            "labels": dict(template.get("metadata", {}).get("labels", {})),
                            "ownerReferences": [{"apiVersion": owner["apiVersion"],
                                                 "kind": owner["kind"],
                                                 "name": owner["metadata"]["name"],
                                                 "uid": owner["metadata"]["uid"]}]},
               "spec": copy.deepcopy(template.get("spec", {})),
               "status": {"phase": "Running"}}
        if self.args.start_seconds > 0:  # not scheduled yet: Pending, no log
            pod["status"] = {"phase": "Pending"}
            self.later(self.args.start_seconds, lambda: self.start_pod(namespace, pod_name))
        else:
            pod["spec"]["nodeName"] = "node-1"
        self.store("v1", "pods", namespace, pod, "ADDED")
        self.logs[(namespace, pod_name)] = list(lines)
        return pod

    def start_pod(self, namespace, pod_name):
        pod = self.objects.get(("v1", "pods", namespace, pod_name))
        if pod is not None and pod["status"]["phase"] == "Pending":
            pod["spec"]["nodeName"] = "node-1"
            pod["status"]["phase"] = "Running"
            self.store("v1", "pods", namespace, pod, "MODIFIED")

    def end_pod(self, namespace, pod_name, phase, line):
        pod = self.objects.get(("v1", "pods", namespace, pod_name))
        if pod is None:
            return
        self.logs[(namespace, pod_name)].append(line)
        self.finished.add((namespace, pod_name))
        pod["status"]["phase"] = phase
        self.store("v1", "pods", namespace, pod, "MODIFIED")

    @staticmethod
    def command_has(template, word):
        containers = template.get("spec", {}).get("containers", [])
        return any(word in " ".join(c.get("command", [])) for c in containers)

    def fails(self, template):
        return self.command_has(template, "exit 1")

    def on_created(self, api_version, plural, namespace, obj):
        name = obj["metadata"]["name"]
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        if plural == "jobs":
            template = obj["spec"]["template"]
            pod = f"{name}-{suffix}"
            start_pod = lambda: self.make_pod(  # noqa: E731
                namespace, obj, pod, template, [f"{pod} started", "step 1 of 2"])
            if self.args.pod_seconds > 0:
                self.later(self.args.pod_seconds, start_pod)  # the scheduler takes its time
            else:
                start_pod()
            obj["status"] = {"active": 1, "startTime": obj["metadata"]["creationTimestamp"]}
            self.store(api_version, plural, namespace, obj, "MODIFIED")
            if self.args.job_seconds >= 0:
                self.later(self.args.job_seconds,
                           lambda: self.finish_job(namespace, name, not self.fails(template)))
        elif plural == "deployments":
            self.start_rollout(namespace, obj)
        elif plural in ("tfjobs", "pytorchjobs"):
            specs = obj["spec"].get("tfReplicaSpecs") or obj["spec"].get("pytorchReplicaSpecs")
            for role, replica_spec in sorted(specs.items()):
                for index in range(replica_spec.get("replicas", 1)):
                    pod = f"{name}-{role.lower()}-{index}"
                    self.make_pod(namespace, obj, pod, replica_spec["template"], [f"{pod} started"])
            self.later(max(self.args.job_seconds, 0), lambda: self.set_status(
                api_version, plural, namespace, name,
                {"conditions": [{"type": "Succeeded", "status": "True",
                                 "reason": "JobSucceeded"}]}))
        elif plural == "sparkapplications":
            self.later(max(self.args.job_seconds, 0), lambda: self.set_status(
                api_version, plural, namespace, name,
                {"applicationState": {"state": "COMPLETED"}}))

    def set_status(self, api_version, plural, namespace, name, new_status):
        obj = self.objects.get((api_version, plural, namespace, name))
        if obj is not None:
            obj["status"] = new_status
            self.store(api_version, plural, namespace, obj, "MODIFIED")

    def finish_job(self, namespace, name, succeeded):
        obj = self.objects.get(("batch/v1", "jobs", namespace, name))
        if obj is None or "conditions" in obj.get("status", {}):
            return
        for (api_version, plural, pod_namespace, pod_name), pod in list(self.objects.items()):
            if plural == "pods" and pod_namespace == namespace and \
                    pod["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]:
                self.end_pod(namespace, pod_name, "Succeeded" if succeeded else "Failed",
                             "step 2 of 2: done" if succeeded else "error: exit code 1")
        condition = {"type": "Complete", "status": "True"} if succeeded else {
            "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}
        obj["status"] = {"succeeded" if succeeded else "failed": 1, "conditions": [condition]}
        self.store("batch/v1", "jobs", namespace, obj, "MODIFIED")

    def start_rollout(self, namespace, obj):
        name = obj["metadata"]["name"]
        generation = obj["metadata"]["generation"]
        replicas = obj["spec"].get("replicas", 1)
        template = obj["spec"]["template"]
        crashes = self.command_has(template, "crash")
        for index in range(replicas):
            pod = f"{name}-{generation}-{index}"
            if ("v1", "pods", namespace, pod) not in self.objects:
                made = self.make_pod(namespace, obj, pod, template, [f"{pod} serving"])
                if crashes:  # the kubelet restarts it, backing off ever longer
                    made["status"]["containerStatuses"] = [{
                        "name": template["spec"]["containers"][0]["name"], "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff",
                                              "message": "back-off 40s restarting failed "
                                                         "container"}}}]
                    self.store("v1", "pods", namespace, made, "MODIFIED")

        def roll_out():
            current = self.objects.get(("apps/v1", "deployments", namespace, name))
            if current is None or current["metadata"]["generation"] != generation or crashes:
                return
            if self.fails(template):
                current["status"] = {"observedGeneration": generation, "replicas": replicas,
                                     "updatedReplicas": replicas, "conditions": [
                                         {"type": "Progressing", "status": "False",
                                          "reason": "ProgressDeadlineExceeded",
                                          "message": f'ReplicaSet "{name}" has timed out '
                                                     "progressing."}]}
            else:
                current["status"] = {
                    "observedGeneration": generation, "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": replicas,
                    "availableReplicas": replicas,
                    "conditions": [{"type": "Available", "status": "True"},
                                   {"type": "Progressing", "status": "True",
                                    "reason": "NewReplicaSetAvailable"}]}
            self.store("apps/v1", "deployments", namespace, current, "MODIFIED")
        self.later(self.args.rollout_seconds, roll_out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None
    watches_dropped = 0
    watches_expired = 0

    def log_message(self, fmt, *args):
        pass

    # --- plumbing ----------------------------------------------------------

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def authenticated(self):
        args = self.cluster.args
        if isinstance(self.connection, ssl.SSLSocket) and self.connection.getpeercert():
            return True  # a client certificate signed by --client-ca
        if args.token is None and args.client_ca is None:
            return True
        return args.token is not None and \
            self.headers.get("Authorization") == f"Bearer {args.token}"

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["fake"]:
            return self.control(method, parts[1:], query, body)
        with self.cluster.lock:
            self.cluster.requests.append({"method": method, "path": url.path, "query": query,
                                          "contentType": self.headers.get("Content-Type", "")})
        if not self.authenticated():
            return self.send_json(*status(401, "Unauthorized", "Unauthorized"))
        # /api/v1/... or /apis/GROUP/VERSION/...
        if parts[:1] == ["api"]:
            api_version, rest = "/".join(parts[1:2]), parts[2:]
        elif parts[:1] == ["apis"]:
            api_version, rest = "/".join(parts[1:3]), parts[3:]
        else:
            return self.send_json(*status(404, "NotFound", "the server could not find it"))
        served = api_version in RESOURCES and not (self.cluster.args.no_crds and
                                                   api_version in CRD_GROUPS)
        if not served:
            return self.send_json(*status(404, "NotFound", "the server could not find it"))
        if not rest:
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": api_version,
                                        "resources": [{"name": plural, "kind": kind,
                                                       "namespaced": True}
                                                      for plural, kind in RESOURCES[api_version]]})
        if rest[:1] == ["namespaces"] and api_version == "v1" and len(rest) == 2:
            if rest[1] in NAMESPACES:
                return self.send_json(200, {"kind": "Namespace", "apiVersion": "v1",
                                            "metadata": {"name": rest[1]},
                                            "status": {"phase": "Active"}})
            return self.send_json(*status(404, "NotFound", f'namespaces "{rest[1]}" not found'))
        if len(rest) < 3 or rest[0] != "namespaces":
            return self.send_json(*status(404, "NotFound", "only namespaced resources"))
        namespace, plural, name, sub = rest[1], rest[2], (rest[3:4] or [None])[0], rest[4:5]
        if self.cluster.kind_of(api_version, plural) is None:
            return self.send_json(*status(404, "NotFound", f"no resource {plural}"))
        if namespace not in NAMESPACES and method == "PATCH":
            return self.send_json(*status(404, "NotFound", f'namespaces "{namespace}" not found'))
        if method == "GET" and plural == "pods" and sub == ["log"]:
            return self.pod_log(namespace, name, query)
        if method == "GET" and plural == "services" and sub == ["proxy"]:
            return self.service_proxy(name, rest[5:], url.query)
        if method == "GET" and name is None and query.get("watch") in ("1", "true"):
            return self.watch(api_version, plural, namespace, query)
        with self.cluster.lock:
            if method == "GET" and name is None:
                # A real server leaves kind and apiVersion off a list's items.
                items = [{k: v for k, v in copy.deepcopy(o).items()
                          if k not in ("kind", "apiVersion")}
                         for (v, p, ns, _), o in sorted(self.cluster.objects.items())
                         if (v, p, ns) == (api_version, plural, namespace)
                         and matches(o, query.get("labelSelector", ""),
                                     query.get("fieldSelector", ""))]
                kind = self.cluster.kind_of(api_version, plural)
                return self.send_json(200, {"kind": kind + "List", "apiVersion": api_version,
                                            "metadata": {"resourceVersion":
                                                         str(self.cluster.version)},
                                            "items": items})
            if method == "GET":
                obj = self.cluster.objects.get((api_version, plural, namespace, name))
                if obj is None:
                    return self.send_json(*status(404, "NotFound", f'{plural} "{name}" not found'))
                return self.send_json(200, obj)
            if method == "DELETE":
                return self.send_json(*self.cluster.delete(api_version, plural, namespace, name))
            if method == "PATCH":
                if self.headers.get("Content-Type") != "application/apply-patch+yaml":
                    return self.send_json(*status(415, "UnsupportedMediaType",
                                                  "this fake only takes apply patches"))
                if not query.get("fieldManager"):
                    return self.send_json(*status(
                        422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                        "Required value: is required for apply patch",
                        [{"reason": "FieldValueRequired", "field": "fieldManager",
                          "message": "Required value: is required for apply patch"}]))
                try:
                    applied = yaml.safe_load(body)
                except yaml.YAMLError as e:
                    return self.send_json(*status(400, "BadRequest", f"error decoding YAML: {e}"))
                return self.send_json(*self.cluster.apply(
                    api_version, plural, namespace, name, applied, query["fieldManager"],
                    query.get("force") == "true", "Apply"))
        return self.send_json(*status(405, "MethodNotAllowed", f"{method} is not supported"))

    def watch(self, api_version, plural, namespace, query):
        since = int(query.get("resourceVersion") or 0)
        deadline = time.time() + float(query.get("timeoutSeconds", 1800))
        self.start_stream("application/json")
        if since and Handler.watches_expired < self.cluster.args.expire_watches:
            Handler.watches_expired += 1  # as after an etcd compaction: list again
            _, gone = status(410, "Expired", f"too old resource version: {since}")
            self.chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return self.end_stream()
        if Handler.watches_dropped < self.cluster.args.drop_watches:
            Handler.watches_dropped += 1
            time.sleep(0.2)
            self.connection.shutdown(socket.SHUT_RDWR)  # a dropped connection, mid-stream
            self.close_connection = True
            return
        with self.cluster.lock:
            while time.time() < deadline:
                pending = [(version, event_type, obj)
                           for version, v, p, ns, event_type, obj in self.cluster.events
                           if version > since and (v, p, ns) == (api_version, plural, namespace)
                           and matches(obj, query.get("labelSelector", ""),
                                       query.get("fieldSelector", ""))]
                for version, event_type, obj in pending:
                    since = version
                    self.chunk(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")
                since = max(since, self.cluster.events[-1][0] if self.cluster.events else 0)
                self.cluster.lock.wait(min(0.5, max(0.0, deadline - time.time())))
        self.end_stream()

    def pod_log(self, namespace, pod, query):
        key = (namespace, pod)
        with self.cluster.lock:
            if key not in self.cluster.logs:
                return self.send_json(*status(404, "NotFound", f'pods "{pod}" not found'))
            obj = self.cluster.objects.get(("v1", "pods", namespace, pod))
            if obj is not None and obj["status"]["phase"] == "Pending":
                self.send_response(204)  # as kube-apiserver: no node, no log
                self.end_headers()
                return
            if query.get("follow") != "true":
                data = "".join(line + "\n" for line in self.cluster.logs[key]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        self.start_stream("text/plain")
        sent = 0
        with self.cluster.lock:
            while True:
                lines = self.cluster.logs[key]
                for line in lines[sent:]:
                    self.chunk(line.encode() + b"\n")
                sent = len(lines)
                if key in self.cluster.finished:
                    break
                self.cluster.lock.wait(0.5)
        self.end_stream()

    def service_proxy(self, name_and_port, path, query):
        """services/NAME:PORT/proxy/PATH, as kube-apiserver forwards it to an
        endpoint of the Service: here the loopback port a test registered."""
        service = name_and_port.split(":")[0]
        with self.cluster.lock:
            port = self.cluster.proxies.get(service)
        if port is None:
            return self.send_json(*status(
                503, "ServiceUnavailable", f'no endpoints available for service "{service}"'))
        target = f"http://127.0.0.1:{port}/" + "/".join(path) + ("?" + query if query else "")
        try:
            with urllib.request.urlopen(target, timeout=10) as response:
                code, body = response.status, response.read()
                content_type = response.headers.get("Content-Type", "text/plain")
        except urllib.error.HTTPError as error:
            code, body = error.code, error.read()
            content_type = error.headers.get("Content-Type", "text/plain")
        except OSError as error:
            return self.send_json(*status(503, "ServiceUnavailable",
                                          f"error trying to reach service: {error}"))
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, method, parts, query, body):
        cluster = self.cluster
        with cluster.lock:
            if method == "GET" and parts == ["requests"]:
                return self.send_json(200, cluster.requests)
            if method == "POST" and parts == ["seed"]:
                obj = json.loads(body)
                api_version = obj["apiVersion"]
                plural = next(p for p, k in RESOURCES[api_version] if k == obj["kind"])
                return self.send_json(*cluster.apply(
                    api_version, plural, obj["metadata"].get("namespace", "default"),
                    obj["metadata"]["name"], obj, query["manager"], True, "Update"))
            if method == "POST" and parts == ["proxy"]:
                rule = json.loads(body)
                cluster.proxies[rule["service"]] = rule["port"]
                return self.send_json(200, {})
            if method == "POST" and parts == ["reject"]:
                rule = json.loads(body)
                cluster.rejects[(rule["plural"], rule["name"])] = (rule["field"], rule["message"])
                return self.send_json(200, {})
        return self.send_json(*status(404, "NotFound", "no such control"))

    def do_GET(self):
        self.dispatch("GET")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_POST(self):
        self.dispatch("POST")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--token")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca")
    parser.add_argument("--job-seconds", type=float, default=0.5)
    parser.add_argument("--rollout-seconds", type=float, default=0.5)
    parser.add_argument("--drop-watches", type=int, default=0)
    parser.add_argument("--expire-watches", type=int, default=0)
    parser.add_argument("--pod-seconds", type=float, default=0)
    parser.add_argument("--start-seconds", type=float, default=0)
    parser.add_argument("--no-crds", action="store_true")
    args = parser.parse_args()
    Handler.cluster = Cluster(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            context.load_verify_locations(args.client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
