"""Structural schemas for the custom resources deploy/ uses, checked offline with jsonschema.

These are NOT the upstream CRDs (no network here to vendor them; they are megabytes). Each schema was
written from the project's API reference for the version pinned in deploy/argocd/operators.yaml and
covers what matters for a typo or a missing field: the required fields, every property name allowed at
the levels deploy/ writes (an unknown or misspelt key fails), and the enums those fields take. Values
inside free-form maps (Helm values, Postgres parameters, Kyverno patterns) are not checked.

Sources: CloudNativePG 1.27 API reference (postgresql.cnpg.io/v1), Barman Cloud plugin 0.x
(barmancloud.cnpg.io/v1), cert-manager 1.19 (cert-manager.io/v1), Kyverno 1.15 (kyverno.io/v1),
Argo CD 3.x (argoproj.io/v1alpha1).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
STR_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
STR_LIST: Schema = {"type": "array", "items": STR}


def obj(required: tuple[str, ...] = (), /, **props: Schema) -> Schema:
    """A closed object: only the listed keys (trailing `_` dropped, so `in_` is `in`), `required` present."""
    properties = {k.rstrip("_"): v for k, v in props.items()}
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def open_keys(*names: str) -> dict[str, Schema]:
    """Keys the API allows that deploy/ does not use: accepted with any value."""
    return {n: ANY for n in names}


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def enum(*values: str) -> Schema:
    return {"enum": list(values)}


LOCAL_REF = obj(("name",), name=STR)
SECRET_KEY_REF = obj(("name", "key"), name=STR, key=STR)

# --- CloudNativePG -----------------------------------------------------------------------------------
CNPG_ROLE = obj(
    ("name",),
    name=STR, ensure=enum("present", "absent"), comment=STR, login=BOOL, superuser=BOOL, createdb=BOOL,
    createrole=BOOL, inherit=BOOL, replication=BOOL, bypassrls=BOOL, connectionLimit=INT, validUntil=STR,
    inRoles=STR_LIST, passwordSecret=LOCAL_REF, disablePassword=BOOL,
)  # fmt: skip
CNPG_CLUSTER_SPEC = obj(
    ("instances",),
    instances={"type": "integer", "minimum": 1},
    imageName=STR,
    primaryUpdateStrategy=enum("unsupervised", "supervised"),
    primaryUpdateMethod=enum("switchover", "restart"),
    enableSuperuserAccess=BOOL,
    bootstrap=obj(
        initdb=obj(
            database=STR,
            owner=STR,
            **open_keys(
                "secret",
                "encoding",
                "localeCollate",
                "localeCType",
                "dataChecksums",
                "postInitSQL",
                "postInitApplicationSQL",
                "import",
            ),
        ),
        **open_keys("recovery", "pg_basebackup"),
    ),
    storage=obj(size=STR, storageClass=STR, **open_keys("resizeInUseVolumes", "pvcTemplate")),
    resources=obj(requests=STR_MAP, limits=STR_MAP),
    affinity=obj(
        enablePodAntiAffinity=BOOL,
        topologyKey=STR,
        podAntiAffinityType=enum("preferred", "required"),
        **open_keys(
            "nodeSelector", "tolerations", "nodeAffinity", "additionalPodAffinity", "additionalPodAntiAffinity"
        ),
    ),
    postgresql=obj(
        parameters=STR_MAP,
        **open_keys(
            "pg_hba", "pg_ident", "shared_preload_libraries", "synchronous", "ldap", "enableAlterSystem", "extensions"
        ),
    ),
    monitoring=obj(
        enablePodMonitor=BOOL,
        **open_keys(
            "customQueriesConfigMap",
            "customQueriesSecret",
            "disableDefaultQueries",
            "podMonitorMetricRelabelings",
            "podMonitorRelabelings",
            "tls",
        ),
    ),
    managed=obj(roles=array(CNPG_ROLE), **open_keys("services")),
    plugins=array(obj(("name",), name=STR, enabled=BOOL, isWALArchiver=BOOL, parameters=STR_MAP)),
    **open_keys(
        "description",
        "backup",
        "walStorage",
        "superuserSecret",
        "certificates",
        "replicationSlots",
        "minSyncReplicas",
        "maxSyncReplicas",
        "logLevel",
        "env",
        "envFrom",
        "priorityClassName",
        "startDelay",
        "stopDelay",
        "switchoverDelay",
        "failoverDelay",
        "tablespaces",
        "nodeMaintenanceWindow",
        "externalClusters",
        "replica",
        "serviceAccountTemplate",
        "inheritedMetadata",
        "projectedVolumeTemplate",
        "topologySpreadConstraints",
        "ephemeralVolumeSource",
        "ephemeralVolumesSizeLimit",
        "imageCatalogRef",
        "imagePullPolicy",
        "imagePullSecrets",
        "enablePDB",
        "smartShutdownTimeout",
        "seccompProfile",
        "podSecurityContext",
        "securityContext",
        "livenessProbeTimeout",
        "probes",
        "postgresUID",
        "postgresGID",
    ),
)
CNPG_DATABASE_SPEC = obj(
    ("name", "owner", "cluster"),
    name=STR, owner=STR, cluster=LOCAL_REF, ensure=enum("present", "absent"),
    databaseReclaimPolicy=enum("retain", "delete"),
    schemas=array(obj(("name",), name=STR, owner=STR, ensure=enum("present", "absent"))),
    extensions=array(obj(("name",), name=STR, ensure=enum("present", "absent"), version=STR, schema=STR)),
    **open_keys("template", "encoding", "locale", "localeProvider", "localeCollate", "localeCType",
                "icuLocale", "icuRules", "builtinLocale", "collationVersion", "isTemplate", "allowConnections",
                "connectionLimit", "tablespace", "fdws", "servers"),
)  # fmt: skip
CNPG_SCHEDULED_BACKUP_SPEC = obj(
    ("cluster", "schedule"),
    cluster=LOCAL_REF,
    # CloudNativePG's cron has six fields: seconds first.
    schedule={"type": "string", "pattern": r"^\S+( \S+){5}$"},
    suspend=BOOL, immediate=BOOL, backupOwnerReference=enum("none", "self", "cluster"),
    method=enum("barmanObjectStore", "volumeSnapshot", "plugin"),
    pluginConfiguration=obj(("name",), name=STR, parameters=STR_MAP),
    **open_keys("target", "online", "onlineConfiguration"),
)  # fmt: skip
COMPRESSION = enum("bzip2", "gzip", "lz4", "snappy", "xz", "zstd")
BARMAN_OBJECT_STORE_SPEC = obj(
    ("configuration",),
    retentionPolicy={"type": "string", "pattern": r"^[1-9][0-9]*[dwm]$"},
    configuration=obj(
        ("destinationPath",),
        destinationPath={"type": "string", "pattern": r"^s3://"},
        endpointURL=STR,
        s3Credentials=obj(
            accessKeyId=SECRET_KEY_REF,
            secretAccessKey=SECRET_KEY_REF,
            region=SECRET_KEY_REF,
            sessionToken=SECRET_KEY_REF,
            inheritFromIAMRole=BOOL,
        ),
        wal=obj(
            compression=COMPRESSION,
            **open_keys("encryption", "maxParallel", "archiveAdditionalCommandArgs", "restoreAdditionalCommandArgs"),
        ),
        data=obj(
            compression=COMPRESSION, **open_keys("encryption", "immediateCheckpoint", "jobs", "additionalCommandArgs")
        ),
        **open_keys("endpointCA", "azureCredentials", "googleCredentials", "serverName", "tags", "historyTags"),
    ),
    **open_keys("instanceSidecarConfiguration"),
)

# --- cert-manager -------------------------------------------------------------------------------------
ACME = obj(
    ("server", "privateKeySecretRef"),
    server=STR, email=STR, privateKeySecretRef=obj(("name",), name=STR, key=STR),
    solvers=array(obj(http01=obj(ingress=obj(ingressClassName=STR, class_=STR, name=STR, serviceType=STR,
                                             **open_keys("podTemplate", "ingressTemplate"))),
                      **open_keys("dns01", "selector"))),
    **open_keys("skipTLSVerify", "externalAccountBinding", "preferredChain", "caBundle",
                "disableAccountKeyGeneration", "enableDurationFeature", "profile"),
)  # fmt: skip
ISSUER_SPEC: Schema = {
    **obj(acme=ACME, selfSigned=obj(crlDistributionPoints=STR_LIST), **open_keys("ca", "vault", "venafi")),
    "minProperties": 1,
    "maxProperties": 1,
}
CERTIFICATE_SPEC = obj(
    ("secretName", "issuerRef"),
    secretName=STR,
    issuerRef=obj(("name",), name=STR, kind=enum("Issuer", "ClusterIssuer"), group=STR),
    dnsNames=STR_LIST, commonName=STR, duration=STR, renewBefore=STR,
    privateKey=obj(algorithm=enum("RSA", "ECDSA", "Ed25519"), size=INT, encoding=enum("PKCS1", "PKCS8"),
                   rotationPolicy=enum("Never", "Always")),
    **open_keys("renewBeforePercentage", "usages", "subject", "ipAddresses", "uris", "emailAddresses", "isCA",
                "secretTemplate", "keystores", "revisionHistoryLimit", "additionalOutputFormats", "literalSubject",
                "nameConstraints", "otherNames", "encodeUsagesInRequest"),
)  # fmt: skip

# --- Kyverno ------------------------------------------------------------------------------------------
KYVERNO_RESOURCES = obj(
    kinds=STR_LIST, names=STR_LIST, name=STR, namespaces=STR_LIST, annotations=STR_MAP, operations=STR_LIST,
    selector=obj(matchLabels=STR_MAP, matchExpressions=array(obj(("key", "operator"), key=STR, operator=STR,
                                                                 values=STR_LIST))),
    namespaceSelector=ANY,
)  # fmt: skip
KYVERNO_FILTER = obj(resources=KYVERNO_RESOURCES, **open_keys("subjects", "roles", "clusterRoles"))
KYVERNO_MATCH = obj(any=array(KYVERNO_FILTER), all=array(KYVERNO_FILTER))
KYVERNO_CONDITION = obj(
    ("key", "operator"),
    key=ANY, value=ANY, message=STR,
    operator=enum("Equals", "NotEquals", "AnyIn", "AllIn", "AnyNotIn", "AllNotIn", "GreaterThanOrEquals",
                  "GreaterThan", "LessThanOrEquals", "LessThan", "DurationGreaterThanOrEquals",
                  "DurationGreaterThan", "DurationLessThanOrEquals", "DurationLessThan"),
)  # fmt: skip
KYVERNO_RULE = obj(
    ("name", "match"),
    name=STR, match=KYVERNO_MATCH, exclude=KYVERNO_MATCH,
    preconditions=obj(any=array(KYVERNO_CONDITION), all=array(KYVERNO_CONDITION)),
    validate=obj(failureAction=enum("Audit", "Enforce"), message=STR, pattern={"type": "object"},
                 anyPattern={"type": "array"}, **open_keys("deny", "foreach", "podSecurity", "cel", "manifests",
                                                            "allowExistingViolations", "failureActionOverrides",
                                                            "assert")),
    **open_keys("context", "mutate", "generate", "verifyImages", "celPreconditions", "skipBackgroundRequests",
                "imageExtractors", "reportProperties"),
)  # fmt: skip
CLUSTER_POLICY_SPEC = obj(
    ("rules",),
    rules={"type": "array", "items": KYVERNO_RULE, "minItems": 1},
    background=BOOL,
    **open_keys(
        "validationFailureAction",
        "failurePolicy",
        "webhookTimeoutSeconds",
        "admission",
        "emitWarning",
        "applyRules",
        "mutateExistingOnPolicyUpdate",
        "generateExisting",
        "useServerSideApply",
        "webhookConfiguration",
        "schemaValidation",
        "validationFailureActionOverrides",
    ),
)

# --- Argo CD ------------------------------------------------------------------------------------------
HELM = obj(releaseName=STR, valueFiles=STR_LIST, values=STR, valuesObject={"type": "object"},
           **open_keys("parameters", "passCredentials", "ignoreMissingValueFiles", "skipCrds",
                       "skipSchemaValidation", "version", "namespace", "kubeVersion", "apiVersions",
                       "fileParameters", "skipTests"))  # fmt: skip
APP_SOURCE = obj(
    ("repoURL",),
    repoURL=STR, path=STR, chart=STR, targetRevision=STR, helm=HELM, ref=STR, name=STR,
    **open_keys("kustomize", "directory", "plugin"),
)  # fmt: skip
SYNC_POLICY = obj(
    automated=obj(prune=BOOL, selfHeal=BOOL, allowEmpty=BOOL, enabled=BOOL),
    syncOptions=STR_LIST,
    retry=obj(limit=INT, backoff=obj(duration=STR, factor=INT, maxDuration=STR), refresh=BOOL),
    **open_keys("managedNamespaceMetadata"),
)  # fmt: skip
APP_SPEC: Schema = {
    **obj(
        ("project", "destination"),
        project=STR, source=APP_SOURCE, sources=array(APP_SOURCE),
        destination=obj(server=STR, name=STR, namespace=STR),
        syncPolicy=SYNC_POLICY,
        **open_keys("ignoreDifferences", "info", "revisionHistoryLimit", "sourceHydrator"),
    ),
    "oneOf": [{"required": ["source"]}, {"required": ["sources"]}],
}  # fmt: skip
GENERATOR: Schema = obj(
    list=obj(("elements",), elements={"type": "array", "items": {"type": "object"}}, **open_keys("template")),
    git=obj(("repoURL", "revision"), repoURL=STR, revision=STR,
            directories=array(obj(("path",), path=STR, exclude=BOOL)),
            **open_keys("files", "requeueAfterSeconds", "pathParamPrefix", "values", "template")),
    matrix=obj(("generators",), generators={"type": "array", "minItems": 2, "maxItems": 2}, **open_keys("template")),
    **open_keys("merge", "clusters", "scmProvider", "pullRequest", "clusterDecisionResource", "plugin", "selector"),
)  # fmt: skip
APPLICATION_SET_SPEC = obj(
    ("generators", "template"),
    generators=array(GENERATOR),
    template=obj(("metadata", "spec"), metadata={"type": "object"}, spec=APP_SPEC),
    goTemplate=BOOL, goTemplateOptions=STR_LIST, templatePatch=STR,
    syncPolicy=obj(preserveResourcesOnDeletion=BOOL, applicationsSync=enum("create-only", "create-update",
                                                                             "create-delete", "sync")),
    **open_keys("strategy", "preservedFields", "ignoreApplicationDifferences", "applyNestedSelectors"),
)  # fmt: skip
GROUP_KIND = obj(("group", "kind"), group=STR, kind=STR)
APP_PROJECT_SPEC = obj(
    description=STR, sourceRepos=STR_LIST,
    destinations=array(obj(server=STR, namespace=STR, name=STR)),
    clusterResourceWhitelist=array(GROUP_KIND), clusterResourceBlacklist=array(GROUP_KIND),
    namespaceResourceWhitelist=array(GROUP_KIND), namespaceResourceBlacklist=array(GROUP_KIND),
    orphanedResources=obj(warn=BOOL, ignore=ANY),
    roles=array(obj(("name",), name=STR, description=STR, policies=STR_LIST, groups=STR_LIST,
                    **open_keys("jwtTokens"))),
    **open_keys("syncWindows", "signatureKeys", "sourceNamespaces", "permitOnlyProjectScopedClusters",
                "destinationServiceAccounts"),
)  # fmt: skip


def resource(spec: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"metadata": {"type": "object", "required": ["name"]}, "spec": spec},
    }


SCHEMAS: dict[tuple[str, str], Schema] = {
    ("postgresql.cnpg.io/v1", "Cluster"): resource(CNPG_CLUSTER_SPEC),
    ("postgresql.cnpg.io/v1", "Database"): resource(CNPG_DATABASE_SPEC),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): resource(CNPG_SCHEDULED_BACKUP_SPEC),
    ("barmancloud.cnpg.io/v1", "ObjectStore"): resource(BARMAN_OBJECT_STORE_SPEC),
    ("cert-manager.io/v1", "Issuer"): resource(ISSUER_SPEC),
    ("cert-manager.io/v1", "Certificate"): resource(CERTIFICATE_SPEC),
    ("kyverno.io/v1", "ClusterPolicy"): resource(CLUSTER_POLICY_SPEC),
    ("argoproj.io/v1alpha1", "Application"): resource(APP_SPEC),
    ("argoproj.io/v1alpha1", "ApplicationSet"): resource(APPLICATION_SET_SPEC),
    ("argoproj.io/v1alpha1", "AppProject"): resource(APP_PROJECT_SPEC),
}
