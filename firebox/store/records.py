"""Records the control plane keeps in the state store, encoded with msgpack.

Field names are Firebox's own (snake_case); the frontend renders them in AWS's shapes.
"""

from __future__ import annotations

import base64

import msgspec

LATEST = "$LATEST"


class CodeRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A deployment package in the content-addressed code store."""

    digest: str  # hex SHA-256 of the zip: the blob's name in the code store
    size: int

    @property
    def sha256_b64(self) -> str:
        """CodeSha256 as AWS reports it: the base64 of the raw digest."""
        return base64.b64encode(bytes.fromhex(self.digest)).decode()


class CodeSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who signed a package, as verified when it was deployed to a function with a code signing configuration."""

    profile_version_arn: str
    job_arn: str


class LayerRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A layer version as a function uses it. The content is the function's own reference to the blob, so
    deleting the layer version later does not take it from functions that use it (as on AWS)."""

    arn: str  # the layer version's ARN
    content: CodeRef
    code_signature: CodeSignature | None = None


class FunctionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The configuration of one function version ($LATEST, or an immutable published number)."""

    name: str
    version: str
    runtime: str | None
    handler: str | None
    role: str
    code: CodeRef
    last_modified: str
    revision_id: str
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    ephemeral_storage: int = 512
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)
    tracing_mode: str = "PassThrough"
    log_format: str = "Text"
    log_group: str | None = None
    snap_start: str = "None"  # SnapStart's ApplyOn: "PublishedVersions" or "None"
    dead_letter_target: str | None = None  # DeadLetterConfig's TargetArn: where failed async events go
    layers: tuple[LayerRef, ...] = ()  # in order: a later layer's files win over an earlier one's under /opt
    kms_key_arn: str | None = None  # KMSKeyArn as given: kept and shown; Firebox's own state key seals
    # `environment` as the state store keeps it (store/function_codec.py): sealed, with `environment` empty
    sealed_environment: bytes | None = None
    code_signature: CodeSignature | None = None

    @property
    def is_latest(self) -> bool:
        return self.version == LATEST

    @property
    def restores_from_snapshot(self) -> bool:
        """SnapStart applies: a published version of a function with ApplyOn=PublishedVersions."""
        return self.snap_start == "PublishedVersions" and not self.is_latest

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


class FunctionRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A function: its $LATEST configuration and the number its next published version takes."""

    latest: FunctionConfig
    next_version: int = 1
    reserved_concurrency: int | None = None  # PutFunctionConcurrency: None when nothing is reserved
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    owner: str = ""  # the principal that created it ("": the administrator, as before keys existed)
    code_signing_config: str | None = None  # the id of the code signing configuration its deployments must meet


class AliasRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    function_name: str
    name: str
    function_version: str
    revision_id: str
    description: str = ""
    # Extra versions and the share of traffic (0.0-1.0) each gets; the rest goes to function_version.
    additional_weights: dict[str, float] = msgspec.field(default_factory=dict)


class ProvisionedRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A provisioned concurrency configuration: `requested` environments kept initialised for a qualifier."""

    function_name: str
    qualifier: str  # a published version's number, or an alias
    requested: int
    last_modified: str


class EventInvokeConfigRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How asynchronous invocations of one qualifier are retried, and where their outcomes are sent."""

    function_name: str
    qualifier: str  # $LATEST, a published version's number, or an alias
    last_modified: float  # seconds since the epoch: the API reports it as a timestamp
    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = 21_600
    on_success: str | None = None  # destination ARNs
    on_failure: str | None = None


class PolicyStatement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    qualifier: str | None  # the version or alias it was added on (None: the unqualified function)
    sid: str
    document: str  # the statement, as JSON text in AWS's shape


class ResourcePolicyRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A function's resource-based policy: who else may do what with it (AddPermission)."""

    statements: tuple[PolicyStatement, ...]
    revision_id: str


class LayerPermission(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One statement of a layer version's resource policy (AddLayerVersionPermission)."""

    statement_id: str
    action: str
    principal: str  # an account id, "*" or an account's root ARN, as the caller gave it
    organization_id: str | None = None


class LayerVersionRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One immutable version of a layer, and the resource policy of that version (which does change)."""

    name: str
    version: int
    content: CodeRef
    created: str  # CreatedDate, formatted as LastModified is
    policy_revision_id: str
    description: str = ""
    license_info: str | None = None
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    permissions: tuple[LayerPermission, ...] = ()


class LayerRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A layer name: kept after its last version is deleted, so that no version number is ever used twice."""

    name: str
    next_version: int = 1


class CodeSigningConfigRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which signing profile versions a function's code must be signed by, and what happens when it is not."""

    config_id: str  # csc- and 17 letters and digits
    allowed_publishers: tuple[str, ...]  # signing profile version ARNs
    last_modified: str
    untrusted_artifact_on_deployment: str = "Warn"  # or "Enforce": refuse the deployment
    description: str = ""
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class SigningProfileRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A version of a signing profile: the public half of an Ed25519 key pair whose private half its user keeps."""

    name: str
    version: str  # 10 letters and digits, as AWS Signer's profile versions
    public_key: bytes  # raw Ed25519, 32 bytes
    created: float  # seconds since the epoch
    revoked: float | None = None  # when it was revoked: code it signed is untrusted from then on


encode = msgspec.msgpack.Encoder().encode
decode_function = msgspec.msgpack.Decoder(FunctionRecord).decode
decode_version = msgspec.msgpack.Decoder(FunctionConfig).decode
decode_alias = msgspec.msgpack.Decoder(AliasRecord).decode
decode_provisioned = msgspec.msgpack.Decoder(ProvisionedRecord).decode
decode_resource_policy = msgspec.msgpack.Decoder(ResourcePolicyRecord).decode
decode_event_invoke_config = msgspec.msgpack.Decoder(EventInvokeConfigRecord).decode
decode_layer = msgspec.msgpack.Decoder(LayerRecord).decode
decode_layer_version = msgspec.msgpack.Decoder(LayerVersionRecord).decode
decode_code_signing_config = msgspec.msgpack.Decoder(CodeSigningConfigRecord).decode
decode_signing_profile = msgspec.msgpack.Decoder(SigningProfileRecord).decode
