"""The journal and state store: control-plane records, code blobs, and the contract under both."""

from firebox.store.arns import Arns
from firebox.store.base import Entry, KeyExists, RevisionConflict, StateStore
from firebox.store.code import MAX_UNZIPPED_BYTES, ZIP_ERRORS, CodeStore, inspect_zip
from firebox.store.code_signing import CodeSigningConfigRegistry, SigningProfileRegistry
from firebox.store.function_codec import FunctionCodec
from firebox.store.keys import AccessKey, AccessKeys
from firebox.store.layers import LayerRegistry
from firebox.store.package_tree import link_target
from firebox.store.records import (
    LATEST,
    AliasRecord,
    CodeRef,
    CodeSignature,
    CodeSigningConfigRecord,
    EventInvokeConfigRecord,
    FunctionConfig,
    FunctionRecord,
    LayerPermission,
    LayerRef,
    LayerVersionRecord,
    PolicyStatement,
    ProvisionedRecord,
    ResourcePolicyRecord,
    SigningProfileRecord,
)
from firebox.store.registry import FunctionRegistry, new_revision_id, now_last_modified, published_number
from firebox.store.sealing import Sealer, WrongStateKey, check_state_key
from firebox.store.sqlite import SqliteStore, open_database

__all__ = [
    "LATEST",
    "MAX_UNZIPPED_BYTES",
    "ZIP_ERRORS",
    "AccessKey",
    "AccessKeys",
    "AliasRecord",
    "Arns",
    "CodeRef",
    "CodeSignature",
    "CodeSigningConfigRecord",
    "CodeSigningConfigRegistry",
    "CodeStore",
    "Entry",
    "EventInvokeConfigRecord",
    "FunctionCodec",
    "FunctionConfig",
    "FunctionRecord",
    "FunctionRegistry",
    "KeyExists",
    "LayerPermission",
    "LayerRef",
    "LayerRegistry",
    "LayerVersionRecord",
    "PolicyStatement",
    "ProvisionedRecord",
    "ResourcePolicyRecord",
    "RevisionConflict",
    "Sealer",
    "SigningProfileRecord",
    "SigningProfileRegistry",
    "SqliteStore",
    "StateStore",
    "WrongStateKey",
    "check_state_key",
    "inspect_zip",
    "link_target",
    "new_revision_id",
    "now_last_modified",
    "open_database",
    "published_number",
]
