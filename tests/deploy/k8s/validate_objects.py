#!/usr/bin/python3
"""Strict schema validation of rendered Kubernetes objects.

Core kinds (Secret, Service, Deployment, Job) are checked against Debian's
python3-kubernetes models: every field must be one the API knows, with the
right type, and required fields present (the models refuse a None there).
CRD kinds (TFJob, PyTorchJob, SparkApplication) are checked against the
structural OpenAPI schemas in crds/, written from the operators' published
CRDs; the pod templates and core types inside them go through the models too.

Usage: validate_objects.py FILE.json (a v1 List, as `skiff render -o json`)
Exits 1 and prints one line per problem.  Run with /usr/bin/python3.
"""
import json
import os
import re
import sys

import jsonschema
import kubernetes.client as k8s
from kubernetes.utils.quantity import parse_quantity

HERE = os.path.dirname(os.path.abspath(__file__))
CORE_KINDS = {
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "Job"): "V1Job",
    # skiff csi install
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("storage.k8s.io/v1", "CSIDriver"): "V1CSIDriver",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
}
# Kinds whose names are DNS subdomains (dots allowed), not labels.
SUBDOMAIN_NAMED = {("storage.k8s.io/v1", "CSIDriver")}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CRD_KINDS = {
    ("kubeflow.org/v1", "TFJob"): "tfjob.json",
    ("kubeflow.org/v1", "PyTorchJob"): "pytorchjob.json",
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication"): "sparkapplication.json",
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
API_CLIENT = k8s.ApiClient()


def check_model(value, type_name, path, errors, top=True):
    """Walks `value` as the OpenAPI type `type_name` of the python models."""
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for index, item in enumerate(value):
            check_model(item, type_name[5:-1], f"{path}[{index}]", errors, False)
    elif type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping")
            return
        inner = type_name[type_name.index(",") + 1:-1].strip()
        for key, item in value.items():
            check_model(item, inner, f"{path}.{key}", errors, False)
    elif type_name == "str":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {value!r}")
    elif type_name == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif type_name == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected true or false, got {value!r}")
    elif type_name in ("object", "float", "datetime"):
        pass  # IntOrString and Quantity are "object"
    else:
        model = getattr(k8s, type_name)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a {type_name} mapping")
            return
        by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
        for key, item in value.items():
            if key not in by_json_name:
                errors.append(f"{path}.{key}: unknown field of {type_name}")
                continue
            check_model(item, model.openapi_types[by_json_name[key]], f"{path}.{key}", errors,
                        False)
        if not top:
            return
        try:  # the models' setters refuse missing required fields and bad enums
            API_CLIENT._ApiClient__deserialize(value, type_name)
        except (ValueError, TypeError) as e:
            errors.append(f"{path}: {e}")


def check_conventions(value, path, errors):
    """Names, labels and quantities, which the schemas only type as strings."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if key == "labels" and isinstance(item, dict):
                for label, text in item.items():
                    if not isinstance(text, str) or len(text) > 63 or not LABEL_VALUE.match(text):
                        errors.append(f"{child}.{label}: not a valid label value: {text!r}")
            elif key in ("limits", "requests") and isinstance(item, dict):
                for resource, quantity in item.items():
                    try:
                        parse_quantity(quantity)
                    except ValueError:
                        errors.append(f"{child}.{resource}: not a quantity: {quantity!r}")
            else:
                check_conventions(item, child, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_conventions(item, f"{path}[{index}]", errors)


def model_keyword(validator, type_name, instance, schema):
    errors = []
    check_model(instance, type_name, "", errors)
    for error in errors:
        yield jsonschema.ValidationError(f"{type_name}{error}")


CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator, {"x-skiff-model": model_keyword})


def validate(obj):
    kind = (obj.get("apiVersion"), obj.get("kind"))
    where = f"{kind[1]} {obj.get('metadata', {}).get('name')}"
    errors = []
    name = obj.get("metadata", {}).get("name", "")
    if kind in SUBDOMAIN_NAMED:
        if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            errors.append(f".metadata.name: not a DNS subdomain: {name!r}")
    elif not DNS_LABEL.match(name) or len(name) > 63:
        errors.append(f".metadata.name: not a DNS label: {name!r}")
    check_conventions(obj, "", errors)
    if kind in CORE_KINDS:
        check_model(obj, CORE_KINDS[kind], "", errors)
    elif kind in CRD_KINDS:
        with open(os.path.join(HERE, "crds", CRD_KINDS[kind])) as f:
            schema = json.load(f)
        for error in CrdValidator(schema).iter_errors(obj):
            location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
            errors.append(f"{location}: {error.message}")
    else:
        errors.append(f"unknown kind {kind}")
    return [f"{where}: {error}" for error in errors]


def main():
    with open(sys.argv[1]) as f:
        items = json.load(f)["items"]
    problems = [problem for obj in items for problem in validate(obj)]
    for problem in problems:
        print(problem)
    print(f"validated {len(items)} objects, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
