#!/usr/bin/python3
"""Writes the structural schemas the validator checks CRD kinds against.

They follow the published CRDs (Kubeflow training-operator v1
kubeflow.org_tfjobs.yaml / kubeflow.org_pytorchjobs.yaml, Spark operator
sparkoperator.k8s.io_sparkapplications.yaml, v1beta2), which cannot be
downloaded here: the top-level fields and types are theirs, written by hand;
embedded core types (PodTemplateSpec, Volume, EnvVar, ...) are checked with the
python3-kubernetes models ("x-skiff-model"), which is what the CRDs embed.
Two things are stricter than a cluster: unknown fields are errors (a cluster
would prune them silently) and replica roles are the ones the operators
accept.  Regenerate with: /usr/bin/python3 make_schemas.py
"""
import json

INT32 = {"type": "integer", "format": "int32"}
STRING = {"type": "string"}
STRING_MAP = {"type": "object", "additionalProperties": STRING}


def closed(properties, required=()):
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def model(name):
    return {"x-skiff-model": name}


def metadata():
    return model("V1ObjectMeta")


QUANTITY_MAP = {"type": "object", "additionalProperties": {"type": ["integer", "string"]}}

RUN_POLICY = closed({
    "activeDeadlineSeconds": {"type": "integer", "format": "int64"},
    "backoffLimit": INT32,
    "cleanPodPolicy": {"type": "string", "enum": ["All", "Running", "None"]},
    "schedulingPolicy": closed({
        "minAvailable": INT32, "minResources": QUANTITY_MAP, "priorityClass": STRING,
        "queue": STRING, "scheduleTimeoutSeconds": INT32}),
    "suspend": {"type": "boolean"},
    "ttlSecondsAfterFinished": INT32,
})

REPLICA_SPEC = closed({
    "replicas": INT32,
    "restartPolicy": {"type": "string", "enum": ["Always", "OnFailure", "Never", "ExitCode"]},
    "template": model("V1PodTemplateSpec"),
})


def kubeflow_job(kind, replicas_field, roles, extra):
    spec = closed(dict({
        "runPolicy": RUN_POLICY,
        replicas_field: {"type": "object", "additionalProperties": REPLICA_SPEC,
                         "propertyNames": {"enum": roles}},
    }, **extra), required=[replicas_field])
    return closed({
        "apiVersion": {"const": "kubeflow.org/v1"}, "kind": {"const": kind},
        "metadata": metadata(), "spec": spec}, required=["apiVersion", "kind", "spec"])


SPARK_POD = {
    "annotations": STRING_MAP, "labels": STRING_MAP, "nodeSelector": STRING_MAP,
    "cores": {"type": "integer", "format": "int32", "minimum": 1},
    "coreLimit": STRING, "coreRequest": STRING, "memory": STRING, "memoryOverhead": STRING,
    "image": STRING, "serviceAccount": STRING, "javaOptions": STRING,
    "env": {"type": "array", "items": model("V1EnvVar")},
    "envFrom": {"type": "array", "items": model("V1EnvFromSource")},
    "volumeMounts": {"type": "array", "items": model("V1VolumeMount")},
    "gpu": closed({"name": STRING, "quantity": {"type": "integer"}}, ["name", "quantity"]),
    "tolerations": {"type": "array", "items": model("V1Toleration")},
    "securityContext": model("V1SecurityContext"),
}

SPARK = closed({
    "apiVersion": {"const": "sparkoperator.k8s.io/v1beta2"}, "kind": {"const": "SparkApplication"},
    "metadata": metadata(),
    "spec": closed({
        "type": {"type": "string", "enum": ["Java", "Python", "Scala", "R"]},
        "mode": {"type": "string", "enum": ["cluster", "client", "in-cluster-client"]},
        "image": STRING, "imagePullPolicy": STRING,
        "imagePullSecrets": {"type": "array", "items": STRING},
        "mainApplicationFile": STRING, "mainClass": STRING,
        "arguments": {"type": "array", "items": STRING},
        "sparkVersion": STRING, "pythonVersion": {"type": "string", "enum": ["2", "3"]},
        "sparkConf": STRING_MAP, "hadoopConf": STRING_MAP,
        "timeToLiveSeconds": {"type": "integer"},
        "restartPolicy": closed({
            "type": {"type": "string", "enum": ["Never", "Always", "OnFailure"]},
            "onFailureRetries": INT32, "onFailureRetryInterval": {"type": "integer"},
            "onSubmissionFailureRetries": INT32,
            "onSubmissionFailureRetryInterval": {"type": "integer"}}),
        "volumes": {"type": "array", "items": model("V1Volume")},
        "driver": closed(SPARK_POD),
        "executor": closed(dict(SPARK_POD, **{
            "instances": {"type": "integer", "format": "int32", "minimum": 1},
            "deleteOnTermination": {"type": "boolean"}})),
    }, required=["driver", "executor", "mainApplicationFile", "sparkVersion", "type"]),
}, required=["apiVersion", "kind", "spec"])

SCHEMAS = {
    "tfjob.json": kubeflow_job("TFJob", "tfReplicaSpecs", ["Chief", "PS", "Worker", "Evaluator"],
                               {"enableDynamicWorker": {"type": "boolean"},
                                "successPolicy": STRING}),
    "pytorchjob.json": kubeflow_job("PyTorchJob", "pytorchReplicaSpecs", ["Master", "Worker"],
                                    {"elasticPolicy": {"type": "object"},
                                     "nprocPerNode": STRING}),
    "sparkapplication.json": SPARK,
}

if __name__ == "__main__":
    for name, schema in SCHEMAS.items():
        with open(name, "w") as f:
            json.dump(schema, f, indent=2, sort_keys=True)
            f.write("\n")
