#!/usr/bin/python3
"""Golden tests of `skiff render` for every kind of spec entry.

Each directory under tests/deploy/golden/ holds a skiff.yaml (and the files it
refers to) and expected.yaml, what `skiff render` prints for it. The test
renders each case in a copy with a fixed build record and fixed secret values,
compares YAML with the golden file, checks that `-o json` holds the same
objects, validates every object strictly (validate_objects.py), and checks that
no secret value is printed unless --show-secrets.

Regenerate the golden files after an intended change, then review the diff:
  /usr/bin/python3 tests/deploy/k8s/render_golden_test.py build/skiff --update
"""
import base64
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
sys.path.insert(0, HERE)
import validate_objects  # noqa: E402

BUILD_RECORD = {
    "repository": "registry.example.com/team/app", "tags": ["abc1234"],
    "digest": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "imageId": "sha256:00", "builder": "buildah", "time": "2026-11-29T00:00:00Z",
    "contextHash": "sha256:00", "pushed": True,
    # What serve Deployments run (skiff build makes it: skiff and ONNX Runtime).
    "serveImage": "registry.example.com/team/app@sha256:24c458cfb46d9a456d314c7897601e51578e43c1f9dc007adf1a745bbc15e0f5",
}
SECRET_ENV = {
    "AZURE_STORAGE_ACCOUNT": "account", "AZURE_STORAGE_KEY": "not-in-output-key",
    "DB_PASSWORD": "not-in-output-pw", "WAREHOUSE_TOKEN": "not-in-output-tok",
}
SECRET_VALUES = [v for v in SECRET_ENV.values() if v.startswith("not-in-output")]
SECRET_VALUES.append("not-in-output-db")  # complete/secrets/database.env


def render(skiff, project, *args):
    env = dict(os.environ, **SECRET_ENV)
    result = subprocess.run([skiff, "render", project, *args], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise AssertionError(f"skiff render {project} {args} failed: {result.stderr}")
    return result.stdout


def check_case(skiff, name, update):
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        project = os.path.join(tmp, name)
        shutil.copytree(os.path.join(GOLDEN, name), project,
                        ignore=shutil.ignore_patterns("expected.yaml"))
        os.makedirs(os.path.join(project, ".skiff"))
        with open(os.path.join(project, ".skiff", "build.json"), "w") as f:
            json.dump(BUILD_RECORD, f)
        rendered = render(skiff, project)
        expected_path = os.path.join(GOLDEN, name, "expected.yaml")
        if update:
            with open(expected_path, "w") as f:
                f.write(rendered)
        with open(expected_path) as f:
            expected = f.read()
        if rendered != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), rendered.splitlines(True),
                                                "expected.yaml", "rendered"))
            problems.append(f"differs from its golden file (regenerate with --update):\n{diff}")
        as_json = json.loads(render(skiff, project, "-o", "json"))
        if list(yaml.safe_load_all(rendered)) != as_json["items"]:
            problems.append("-o yaml and -o json hold different objects")
        for obj in as_json["items"]:
            problems += validate_objects.validate(obj)
        for obj in as_json["items"]:
            for key, value in (obj.get("data") or {}).items() if obj["kind"] == "Secret" else []:
                # Redacted, but valid base64: the output applies as it is.
                if base64.b64decode(value, validate=True).decode() != "<redacted>":
                    problems.append(f"Secret {obj['metadata']['name']} key {key} is not redacted")
        for secret in SECRET_VALUES:
            if secret in rendered:
                problems.append(f"a secret value is printed: {secret}")
        shown = render(skiff, project, "--show-secrets")
        for obj in yaml.safe_load_all(shown):
            for value in (obj.get("data") or {}).values() if obj["kind"] == "Secret" else []:
                if base64.b64decode(value).decode() == "<redacted>":
                    problems.append("--show-secrets still redacts")
    return problems


def check_csi_install(skiff):
    """`skiff csi install --dry-run`: the driver's objects, each valid."""
    result = subprocess.run([skiff, "csi", "install", "--dry-run", "--image", "localhost:5000/skiff:1",
                             "--kubelet-dir", "/var/lib/kubelet", "--api-server", "https://10.0.0.1:6443"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return [f"skiff csi install --dry-run failed: {result.stderr}"]
    objects = list(yaml.safe_load_all(result.stdout))
    problems = [problem for obj in objects for problem in validate_objects.validate(obj)]
    kinds = [obj["kind"] for obj in objects]
    if kinds != ["CSIDriver", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"]:
        problems.append(f"unexpected objects {kinds}")
    else:
        pod = objects[4]["spec"]["template"]["spec"]
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        if mounts["kubelet"].get("mountPropagation") != "Bidirectional" or not pod.get("hostPID"):
            problems.append("the plugin's mounts would not reach pods or outlive the plugin")
        command = pod["containers"][0]["command"]
        if command[-2:] != ["--api-server", "https://10.0.0.1:6443"]:
            problems.append(f"--api-server does not reach the plugin: {command}")
        # The role lets the plugin post events and do nothing else (no Secret, no pod).
        if objects[2]["rules"] != [{"apiGroups": [""], "resources": ["events"],
                                    "verbs": ["create", "patch"]}]:
            problems.append(f"the plugin's role allows more than events: {objects[2]['rules']}")
    return problems


def check_validator_catches_mistakes():
    """The validator is only worth its green if it goes red on a broken object."""
    container = {"name": "main", "image": "x", "imagee": "typo", "ports": [{"name": "http"}],
                 "resources": {"limits": {"memory": "4GB"}}}
    broken = [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a"},
         "spec": {"template": {"spec": {"containers": [container]}}}},
        {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "b"},
         "spec": {"tfReplicaSpecs": {"Boss": {"template": {"spec": {"containers": [container]}}}}}},
        {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
         "metadata": {"name": "c"}, "spec": {"type": "Python", "sparkVersion": "3", "driver": {},
                                             "executor": {"cores": "1"}}},
    ]
    expected = ["imagee", "container_port", "4GB", "Boss", "'1' is not of type"]
    found = [problem for obj in broken for problem in validate_objects.validate(obj)]
    return [f"the validator missed {word}: {found}" for word in expected
            if not any(word in problem for problem in found)]


def main():
    skiff = os.path.abspath(sys.argv[1])
    update = "--update" in sys.argv
    failed = 0
    problems = check_validator_catches_mistakes()
    print(f"{'FAIL' if problems else 'ok'}: the validator finds mistakes")
    for problem in problems:
        print(f"  {problem}")
    failed += bool(problems)
    problems = check_csi_install(skiff)
    print(f"{'FAIL' if problems else 'ok'}: skiff csi install --dry-run")
    for problem in problems:
        print(f"  {problem}")
    failed += bool(problems)
    for name in sorted(os.listdir(GOLDEN)):
        problems = check_case(skiff, name, update)
        print(f"{'FAIL' if problems else 'ok'}: {name}")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
