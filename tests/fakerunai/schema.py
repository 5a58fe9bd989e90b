"""The request schemas the fake Run:ai control plane validates every body against.

Written from the field names, types, bounds, enums and required fields of the
published NVIDIA Run:ai REST API reference (``InferenceCreationRequest`` and its
``spec``, the inference update request, the v1 token request), versions 2.22 to
3.0. Every object is closed (``additionalProperties: false``), so a request
with an unknown or mistyped field is refused with 400, as the real one is.
"""

from __future__ import annotations

from typing import Any

QUANTITY = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STRING = {"type": "string"}
NONEMPTY = {"type": "string", "minLength": 1}
BOOL = {"type": "boolean"}
NUMBER = {"type": "number", "minimum": 0}


def integer(minimum: int | None = None, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


NAME_VALUE = closed(
    {"name": {"type": "string", "minLength": 1, "maxLength": 63}, "value": STRING, "exclude": BOOL}
)

AUTOSCALING = closed(
    {
        "metricThresholdPercentage": {"type": "number", "minimum": 1, "maximum": 100},
        "minReplicas": integer(0),
        "maxReplicas": integer(1),
        "initialReplicas": integer(0),
        "activationReplicas": integer(1),
        "concurrencyHardLimit": integer(0),
        "scaleToZeroRetentionSeconds": integer(0, 3600),
        "scaleDownDelaySeconds": integer(0, 3600),
        "initializationTimeoutSeconds": integer(1),
        "metric": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "metricThreshold": integer(),
    }
)

COMPUTE = closed(
    {
        "cpuCoreLimit": NUMBER,
        "cpuCoreRequest": NUMBER,
        "cpuMemoryLimit": {"type": "string", "pattern": QUANTITY},
        "cpuMemoryRequest": {"type": "string", "pattern": QUANTITY},
        "extendedResources": array(
            closed({"resource": NONEMPTY, "quantity": STRING, "exclude": BOOL})
        ),
        "gpuDevicesRequest": integer(0),
        "gpuMemoryLimit": {"type": "string", "pattern": QUANTITY},
        "gpuMemoryRequest": {"type": "string", "pattern": QUANTITY},
        "gpuPortionLimit": NUMBER,
        "gpuPortionRequest": NUMBER,
        "gpuRequestType": {"enum": ["portion", "memory", "migProfile"]},
        "largeShmRequest": BOOL,
    }
)

KEY_REF = closed({"name": NONEMPTY, "key": NONEMPTY})

ENVIRONMENT_VARIABLE = closed(
    {
        "name": NONEMPTY,
        "value": STRING,
        "secret": closed(
            {"name": {"type": "string", "minLength": 1, "pattern": DNS_LABEL}, "key": NONEMPTY}
        ),
        "configMap": KEY_REF,
        "podFieldRef": closed({"path": NONEMPTY}),
        "userCredential": KEY_REF,
        "exclude": BOOL,
        "description": STRING,
    }
)

AUTHORIZATION_TYPES = [
    "public",
    "authenticatedUsers",
    "authorizedUsers",
    "authorizedGroups",
    "authorizedUsersOrGroups",
]

SERVING_PORT = closed(
    {
        "container": integer(1, 65535),
        "protocol": {"enum": ["http", "grpc"]},
        "authorizationType": {"enum": AUTHORIZATION_TYPES},
        "authorizedUsers": array(STRING),
        "authorizedGroups": array(STRING),
        "clusterLocalAccessOnly": BOOL,
    }
)

PROBE = closed(
    {
        "initialDelaySeconds": integer(0),
        "periodSeconds": integer(1),
        "timeoutSeconds": integer(1),
        "successThreshold": integer(1),
        "failureThreshold": integer(1),
        "handler": closed(
            {
                "httpGet": closed(
                    {
                        "path": STRING,
                        "port": integer(1, 65535),
                        "host": STRING,
                        "scheme": {"enum": ["HTTP", "HTTPS"]},
                    }
                )
            }
        ),
    }
)

TOLERATION = closed(
    {
        "name": NONEMPTY,
        "operator": {"enum": ["Equal", "Exists"]},
        "key": STRING,
        "value": STRING,
        "effect": {"enum": ["NoSchedule", "NoExecute", "PreferNoSchedule", "Any"]},
        "seconds": integer(1),
        "exclude": BOOL,
    }
)

STORAGE = closed(
    {
        "configMapVolume": array({"type": "object"}),
        "dataVolume": array({"type": "object"}),
        "emptyDirVolume": array(
            closed(
                {
                    "name": NONEMPTY,
                    "path": NONEMPTY,
                    "medium": NONEMPTY,
                    "sizeLimit": {"type": "string", "pattern": QUANTITY},
                    "exclude": BOOL,
                }
            )
        ),
        "git": array({"type": "object"}),
        "hostPath": array({"type": "object"}),
        "nfs": array({"type": "object"}),
        "pvc": array(
            closed(
                {
                    "name": NONEMPTY,
                    "path": NONEMPTY,
                    "existingPvc": BOOL,
                    "claimName": {"type": "string", "minLength": 1, "maxLength": 63},
                    "readOnly": BOOL,
                    "ephemeral": BOOL,
                    "claimInfo": {"type": "object"},
                    "dataSharing": BOOL,
                    "exclude": BOOL,
                }
            )
        ),
        "secretVolume": array({"type": "object"}),
    }
)

INFERENCE_SPEC = closed(
    {
        "autoscaling": AUTOSCALING,
        "servingConfiguration": closed(
            {"initializationTimeoutSeconds": integer(1), "requestTimeoutSeconds": integer(1)}
        ),
        "annotations": array(NAME_VALUE),
        "args": NONEMPTY,
        "category": STRING,
        "command": NONEMPTY,
        "compute": COMPUTE,
        "createHomeDir": BOOL,
        "environmentVariables": array(ENVIRONMENT_VARIABLE),
        "exposedUrls": array({"type": "object"}),
        "image": NONEMPTY,
        "imagePullPolicy": {"enum": ["Always", "Never", "IfNotPresent"]},
        "imagePullSecrets": array(
            closed({"name": NONEMPTY, "userCredential": BOOL, "exclude": BOOL})
        ),
        "labels": array(NAME_VALUE),
        "nodeAffinityRequired": closed({"nodeSelectorTerms": array({"type": "object"})}),
        "nodePools": array(STRING),
        "nodeType": NONEMPTY,
        "podAffinity": closed({"type": {"enum": ["Required", "Preferred"]}, "key": STRING}),
        "ports": array({"type": "object"}),
        "preemptibility": {"enum": ["preemptible", "non-preemptible"]},
        "priorityClass": STRING,
        "probes": closed({"readiness": PROBE}),
        "relatedUrls": array({"type": "object"}),
        "security": {"type": "object"},
        "servingPort": SERVING_PORT,
        "storage": STORAGE,
        "tolerations": array(TOLERATION),
        "workingDir": NONEMPTY,
    }
)

INFERENCE_CREATION_REQUEST = closed(
    {
        "name": NONEMPTY,
        "useGivenNameAsPrefix": BOOL,
        "projectId": STRING,
        "clusterId": {"type": "string", "format": "uuid"},
        "templateId": {"type": ["string", "null"]},
        "spec": INFERENCE_SPEC,
    },
    required=("name", "projectId", "clusterId"),
)

INFERENCE_UPDATE_REQUEST = closed({"spec": INFERENCE_SPEC})

TOKEN_V2_FORM = closed(
    {
        "grant_type": {
            "enum": [
                "client_credentials",
                "password",
                "refresh_token",
                "authorization_code",
            ]
        },
        "client_id": STRING,
        "client_secret": STRING,
        "username": STRING,
        "password": STRING,
        "refresh_token": STRING,
        "code": STRING,
        "redirect_uri": STRING,
    },
    required=("grant_type",),
)
"""``POST /api/v2/token``: the OAuth2 form fields the published page lists."""

TOKEN_REQUEST = closed(
    {
        "grantType": {
            "enum": [
                "app_token",
                "client_credentials",
                "refresh_token",
                "password",
                "exchange_token",
            ]
        },
        "appID": STRING,
        "appSecret": STRING,
        "code": STRING,
        "redirectUri": STRING,
        "refreshToken": STRING,
        "username": STRING,
        "password": STRING,
        "clientID": STRING,
        "clientSecret": STRING,
        "externalToken": STRING,
    },
    required=("grantType",),
)


def problems(schema: dict[str, Any], body: Any) -> list[str]:
    """``path: message`` for every way ``body`` breaks ``schema`` (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path) or "(body)"
        found.append(f"{path}: {error.message}")
    return found


def rule_problems(spec: dict[str, Any]) -> list[str]:
    """The API's cross-field rules of an inference spec (answered 422)."""
    found: list[str] = []
    scaling = spec.get("autoscaling") or {}
    low, high = scaling.get("minReplicas", 1), scaling.get("maxReplicas")
    high = low if high is None else high
    metric = scaling.get("metric")
    if high < low:
        found.append("autoscaling.maxReplicas: must be at least minReplicas")
    if low < high and not metric and not (low == 0 and high == 1):
        found.append("autoscaling.metric: mandatory when minReplicas < maxReplicas")
    if metric and "metricThreshold" not in scaling:
        found.append("autoscaling.metricThreshold: mandatory when metric is specified")
    if low == 0 and metric not in (None, "throughput", "concurrency"):
        found.append("autoscaling.metric: only throughput and concurrency support scale-to-zero")
    if "scaleToZeroRetentionSeconds" in scaling and low != 0:
        found.append("autoscaling.scaleToZeroRetentionSeconds: only when minReplicas is 0")
    port = spec.get("servingPort") or {}
    if port.get("authorizedUsers") and port.get("authorizedGroups"):
        found.append("servingPort: authorizedUsers and authorizedGroups are mutually exclusive")
    compute = spec.get("compute") or {}
    if compute.get("gpuDevicesRequest", 0) > 1 and (
        "gpuMemoryRequest" in compute or "gpuPortionRequest" in compute
    ):
        found.append("compute: gpuMemory/gpuPortion cannot be set with more than one GPU device")
    for toleration in spec.get("tolerations") or []:
        if toleration.get("operator") == "Exists" and "value" in toleration:
            found.append(f"tolerations[{toleration.get('name')}]: value is forbidden with Exists")
    return found


# ------------------------------------------------------------- credentials

SCOPES = ["system", "tenant", "cluster", "department", "project"]

WORKLOAD_SUPPORTED_TYPES = closed(
    {
        "workspace": BOOL,
        "training": BOOL,
        "inference": BOOL,
        "distributed": BOOL,
        "distFramework": {"enum": ["MPI", "PyTorch", "TF", "XGBoost", "JAX"]},
    }
)

DESCRIPTION = {"type": "string", "minLength": 1, "maxLength": 250}

ASSET_CREATION_META = closed(
    {
        "name": NONEMPTY,
        "description": DESCRIPTION,
        "scope": {"enum": SCOPES},
        "clusterId": NONEMPTY,
        "departmentId": NONEMPTY,
        "projectId": {"type": "integer"},
        "autoDelete": BOOL,
        "workloadSupportedTypes": WORKLOAD_SUPPORTED_TYPES,
        "private": BOOL,
    },
    required=("name", "scope"),
)

KEY_VALUE_PAIR = closed({"key": NONEMPTY, "value": STRING}, required=("key", "value"))

GENERIC_SECRET_CREATION_REQUEST = closed(
    {
        "meta": ASSET_CREATION_META,
        "spec": closed({"existingSecretName": NONEMPTY, "keyValuePairs": array(KEY_VALUE_PAIR)}),
    },
    required=("meta", "spec"),
)

GENERIC_SECRET_UPDATE_REQUEST = closed({"meta": closed({"description": DESCRIPTION})})
"""The update of a generic secret changes its description only (no values)."""


def credential_rule_problems(body: dict[str, Any]) -> list[str]:
    """The asset API's cross-field rules of a generic-secret creation (answered 422)."""
    meta, spec = body["meta"], body["spec"]
    found = []
    if meta["scope"] == "project" and "projectId" not in meta:
        found.append("meta.projectId: must be specified for project scoped assets")
    if ("existingSecretName" in spec) == ("keyValuePairs" in spec):
        found.append("spec: exactly one of existingSecretName and keyValuePairs")
    if "keyValuePairs" in spec and not spec["keyValuePairs"]:
        found.append("spec.keyValuePairs: at least one pair")
    return found
