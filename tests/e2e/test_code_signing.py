"""Code signing: the code signing configuration API with the errors AWS gives, and what a function with a
configuration takes at deployment (Enforce refuses untrusted code, Warn deploys it and logs, a tampered
signature is refused either way), for its code and its layers; and who may do all this."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firebox.code_signature import SIGNATURE_MEMBER, sign_package
from tests.conftest import ROLE
from tests.server_process import FireboxServer
from tests.zips import make_zip

ACCOUNT = "000000000000"
UNKNOWN_CONFIG = f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:csc-0123456789abcdefg"
# What the function sees of its code and its layers (the process backend names their host directories).
LISTS_TASK = """
import os
def handler(event, context):
    opt = os.environ.get("FIREBOX_OPT_ROOT", "/opt")
    return {
        "task": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "opt": sorted(os.listdir(opt)) if os.path.isdir(opt) else [],
        "version": 1,
    }
"""


def _error(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def _post(server: FireboxServer, path: str, document: dict[str, str]) -> Any:
    request = server.signed_request(
        "POST", path, json.dumps(document).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


class Publisher:
    """A signing profile version of the server: its private key, here, and its ARN."""

    def __init__(self, server: FireboxServer) -> None:
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        made = _post(server, "/firebox/signing-profiles", {"ProfileName": f"p{uuid.uuid4().hex}", "PublicKey": public})
        self.arn: str = made["ProfileVersionArn"]
        self.name: str = made["ProfileName"]
        self.version: str = made["ProfileVersion"]

    def sign(self, package: bytes, job_id: str | None = None) -> bytes:
        return sign_package(package, self.key, self.arn, job_id or str(uuid.uuid4()))


@pytest.fixture
def publisher(server: FireboxServer) -> Publisher:
    return Publisher(server)


@pytest.fixture
def code_signing_config(lambda_client: Any, publisher: Publisher) -> Callable[..., str]:
    """Make a code signing configuration that allows `publisher`; returns its ARN."""

    def create(policy: str | None = None) -> str:
        extra = {} if policy is None else {"CodeSigningPolicies": {"UntrustedArtifactOnDeployment": policy}}
        made = lambda_client.create_code_signing_config(
            AllowedPublishers={"SigningProfileVersionArns": [publisher.arn]}, **extra
        )
        return str(made["CodeSigningConfig"]["CodeSigningConfigArn"])

    return create


def _create(lambda_client: Any, name: str, code: bytes, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": code}, **extra
    )
    return created


def _tampered(signed: bytes) -> bytes:
    """`signed` with one more line in app.py, its signature entry left as it was."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(signed)) as source, zipfile.ZipFile(buffer, "w") as out:
        for member in source.infolist():
            out.writestr(member, source.read(member) + (b"# changed\n" if member.filename == "app.py" else b""))
    return buffer.getvalue()


def _invoke(lambda_client: Any, name: str) -> Any:
    return json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())


def test_code_signing_configurations_are_created_read_updated_listed_and_deleted(
    lambda_client: Any, publisher: Publisher
) -> None:
    made = lambda_client.create_code_signing_config(
        Description="release builds",
        AllowedPublishers={"SigningProfileVersionArns": [publisher.arn]},
        Tags={"team": "platform"},
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = made["CodeSigningConfig"]
    arn = config["CodeSigningConfigArn"]
    assert arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:{config['CodeSigningConfigId']}"
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [publisher.arn]}
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}  # AWS's default
    assert config["Description"] == "release builds"
    assert lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == config
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "platform"}
    lambda_client.tag_resource(Resource=arn, Tags={"stage": "prod"})
    lambda_client.untag_resource(Resource=arn, TagKeys=["team"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"stage": "prod"}

    updated = lambda_client.update_code_signing_config(
        CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"}
    )["CodeSigningConfig"]
    assert updated["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert (updated["Description"], updated["AllowedPublishers"]) == (
        config["Description"],
        config["AllowedPublishers"],
    )

    listed, marker = [], None
    while True:  # one at a time, to see the paging work too
        page = lambda_client.list_code_signing_configs(MaxItems=1, **({"Marker": marker} if marker else {}))
        listed += page["CodeSigningConfigs"]
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert updated in listed

    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    assert _error(lambda: lambda_client.get_code_signing_config(CodeSigningConfigArn=arn))[0] == (
        "ResourceNotFoundException"
    )
    assert _error(lambda: lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn))[0] == (
        "ResourceNotFoundException"
    )


def test_bad_configurations_and_unknown_ones_get_aws_errors(
    lambda_client: Any, raw_lambda_client: Any, publisher: Publisher
) -> None:
    def create(arns: list[str], policy: str = "Warn") -> tuple[str, str]:
        return _error(
            lambda: raw_lambda_client.create_code_signing_config(
                AllowedPublishers={"SigningProfileVersionArns": arns},
                CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy},
            )
        )

    assert create([])[0] == "ValidationException"
    assert create([publisher.arn] * 21)[0] == "ValidationException"
    assert create(["not an arn"])[0] == "ValidationException"
    code, message = create([f"arn:aws:iam::{ACCOUNT}:role/signer"])
    assert code == "InvalidParameterValueException" and "signing profile version ARN" in message
    assert create([publisher.arn], policy="Maybe")[0] == "ValidationException"
    for call in (
        lambda: lambda_client.get_code_signing_config(CodeSigningConfigArn=UNKNOWN_CONFIG),
        lambda: lambda_client.update_code_signing_config(CodeSigningConfigArn=UNKNOWN_CONFIG, Description="x"),
        lambda: lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=UNKNOWN_CONFIG),
    ):
        assert _error(call)[0] == "ResourceNotFoundException"


def test_a_function_takes_a_configuration_which_cannot_go_while_it_is_used(
    lambda_client: Any, function_name: str, code_signing_config: Callable[..., str]
) -> None:
    arn = code_signing_config()
    unsigned = make_zip({"app.py": LISTS_TASK})
    code, _ = _error(lambda: _create(lambda_client, function_name, unsigned, CodeSigningConfigArn=UNKNOWN_CONFIG))
    assert code == "CodeSigningConfigNotFoundException"
    _create(lambda_client, function_name, unsigned)
    assert lambda_client.get_function_code_signing_config(FunctionName=function_name)["CodeSigningConfigArn"] == ""
    code, _ = _error(
        lambda: lambda_client.put_function_code_signing_config(
            FunctionName=function_name, CodeSigningConfigArn=UNKNOWN_CONFIG
        )
    )
    assert code == "CodeSigningConfigNotFoundException"

    put = lambda_client.put_function_code_signing_config(FunctionName=function_name, CodeSigningConfigArn=arn)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, function_name)
    assert lambda_client.get_function_code_signing_config(FunctionName=function_name)["CodeSigningConfigArn"] == arn
    listed = lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"]
    assert listed == [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}"]
    code, message = _error(lambda: lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn))
    assert code == "ResourceConflictException" and function_name in message

    lambda_client.delete_function_code_signing_config(FunctionName=function_name)
    assert lambda_client.get_function_code_signing_config(FunctionName=function_name)["CodeSigningConfigArn"] == ""
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    code, _ = _error(lambda: lambda_client.get_function_code_signing_config(FunctionName=f"{function_name}-none"))
    assert code == "ResourceNotFoundException"


def test_signed_code_deploys_shows_its_signer_and_runs_without_its_signature(
    lambda_client: Any, function_name: str, publisher: Publisher, code_signing_config: Callable[..., str]
) -> None:
    job_id = str(uuid.uuid4())
    signed = publisher.sign(make_zip({"app.py": LISTS_TASK}), job_id)
    created = _create(lambda_client, function_name, signed, CodeSigningConfigArn=code_signing_config("Enforce"))
    job_arn = f"arn:aws:signer:us-east-1:{ACCOUNT}:/signing-jobs/{job_id}"
    assert (created["SigningProfileVersionArn"], created["SigningJobArn"]) == (publisher.arn, job_arn)
    version = lambda_client.publish_version(FunctionName=function_name)
    assert version["SigningProfileVersionArn"] == publisher.arn
    shown = lambda_client.get_function(FunctionName=function_name, Qualifier=version["Version"])["Configuration"]
    assert (shown["SigningProfileVersionArn"], shown["SigningJobArn"]) == (publisher.arn, job_arn)
    task = _invoke(lambda_client, function_name)["task"]
    assert "app.py" in task and SIGNATURE_MEMBER not in task


def test_enforce_refuses_untrusted_code_and_changes_nothing(
    server: FireboxServer,
    lambda_client: Any,
    function_name: str,
    publisher: Publisher,
    code_signing_config: Callable[..., str],
) -> None:
    config = code_signing_config("Enforce")
    package = make_zip({"app.py": LISTS_TASK.replace('"version": 1', '"version": 2')})
    code, message = _error(lambda: _create(lambda_client, function_name, package, CodeSigningConfigArn=config))
    assert code == "CodeVerificationFailedException" and "not signed" in message
    assert _error(lambda: lambda_client.get_function(FunctionName=function_name))[0] == "ResourceNotFoundException"

    created = _create(lambda_client, function_name, publisher.sign(make_zip({"app.py": LISTS_TASK})))
    lambda_client.put_function_code_signing_config(FunctionName=function_name, CodeSigningConfigArn=config)
    stranger = Publisher(server)
    revoked = Publisher(server)
    lambda_client.update_code_signing_config(
        CodeSigningConfigArn=config, AllowedPublishers={"SigningProfileVersionArns": [publisher.arn, revoked.arn]}
    )
    _post(server, f"/firebox/signing-profiles/{revoked.name}/{revoked.version}/revoke", {})
    not_ours = f"arn:aws:signer:eu-west-1:{ACCOUNT}:/signing-profiles/{publisher.name}/{publisher.version}"
    refusals = {
        "not signed": (package, "CodeVerificationFailedException"),
        "not an allowed publisher": (stranger.sign(package), "CodeVerificationFailedException"),
        "was revoked": (revoked.sign(package), "CodeVerificationFailedException"),
        "does not know": (
            sign_package(package, publisher.key, not_ours, str(uuid.uuid4())),
            "CodeVerificationFailedException",
        ),
        "integrity check": (_tampered(publisher.sign(package)), "InvalidCodeSignatureException"),
    }
    for why, (zip_file, expected) in refusals.items():
        code, message = _error(
            lambda z=zip_file: lambda_client.update_function_code(FunctionName=function_name, ZipFile=z)
        )
        assert (code, why in message) == (expected, True), message

    kept = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (kept["CodeSha256"], kept["RevisionId"]) == (created["CodeSha256"], created["RevisionId"])
    assert _invoke(lambda_client, function_name)["version"] == 1
    updated = lambda_client.update_function_code(FunctionName=function_name, ZipFile=publisher.sign(package))
    assert updated["SigningProfileVersionArn"] == publisher.arn
    assert _invoke(lambda_client, function_name)["version"] == 2


def test_warn_deploys_untrusted_code_and_logs_it_but_refuses_a_tampered_signature(
    server: FireboxServer, lambda_client: Any, function_name: str, code_signing_config: Callable[..., str]
) -> None:
    config = code_signing_config()  # Warn, by default
    created = _create(lambda_client, function_name, make_zip({"app.py": LISTS_TASK}), CodeSigningConfigArn=config)
    assert "SigningProfileVersionArn" not in created
    assert _invoke(lambda_client, function_name)["version"] == 1
    assert f"Deploying the code of function {function_name} though it is not signed" in server.log()

    stranger = Publisher(server)
    updated = lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=stranger.sign(make_zip({"app.py": LISTS_TASK}))
    )
    assert updated["SigningProfileVersionArn"] == stranger.arn  # who signed it is known, though not trusted
    assert f"though it is signed by {stranger.arn}, which is not an allowed publisher" in server.log()

    code, _ = _error(
        lambda: lambda_client.update_function_code(
            FunctionName=function_name, ZipFile=_tampered(stranger.sign(make_zip({"app.py": LISTS_TASK})))
        )
    )
    assert code == "InvalidCodeSignatureException"
    assert lambda_client.get_function_configuration(FunctionName=function_name)["CodeSha256"] == updated["CodeSha256"]


def test_the_layers_of_a_function_must_be_signed_too(
    lambda_client: Any, function_name: str, publisher: Publisher, code_signing_config: Callable[..., str]
) -> None:
    config = code_signing_config("Enforce")
    layer_content = make_zip({"python/shared.py": "VALUE = 1\n"})
    signed_layer = lambda_client.publish_layer_version(
        LayerName=function_name, Content={"ZipFile": publisher.sign(layer_content)}
    )["LayerVersionArn"]
    unsigned_layer = lambda_client.publish_layer_version(LayerName=function_name, Content={"ZipFile": layer_content})[
        "LayerVersionArn"
    ]
    code = publisher.sign(make_zip({"app.py": LISTS_TASK}))
    failure, message = _error(
        lambda: _create(lambda_client, function_name, code, CodeSigningConfigArn=config, Layers=[unsigned_layer])
    )
    assert failure == "CodeVerificationFailedException" and unsigned_layer in message

    created = _create(lambda_client, function_name, code, CodeSigningConfigArn=config, Layers=[signed_layer])
    [layer] = created["Layers"]
    assert (layer["Arn"], layer["SigningProfileVersionArn"]) == (signed_layer, publisher.arn)
    opt = _invoke(lambda_client, function_name)["opt"]
    assert "python" in opt and SIGNATURE_MEMBER not in opt
    failure, _ = _error(
        lambda: lambda_client.update_function_configuration(FunctionName=function_name, Layers=[unsigned_layer])
    )
    assert failure == "CodeVerificationFailedException"


def test_a_key_without_permission_is_denied(server: FireboxServer, function_name: str, publisher: Publisher) -> None:
    admin = server.client()
    config = admin.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [publisher.arn]})
    arn = config["CodeSigningConfig"]["CodeSigningConfigArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["lambda:CreateCodeSigningConfig", "lambda:DeleteCodeSigningConfig"],
                "Resource": "*",
            },
            {"Effect": "Deny", "Action": "lambda:GetCodeSigningConfig", "Resource": arn},
        ],
    }
    made = _post(server, "/firebox/keys", {"Principal": f"signer-{function_name}"[:60], "Policy": json.dumps(policy)})
    client = server.client(
        credentials={"aws_access_key_id": made["AccessKeyId"], "aws_secret_access_key": made["SecretAccessKey"]}
    )
    for call in (
        lambda: client.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [publisher.arn]}),
        lambda: client.delete_code_signing_config(CodeSigningConfigArn=arn),
        lambda: client.get_code_signing_config(CodeSigningConfigArn=arn),
    ):
        code, message = _error(call)
        assert code == "AccessDeniedException" and "CodeSigningConfig" in message
    assert client.list_code_signing_configs()["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Another principal's function is out of reach without a grant, its code signing configuration included.
    _create(admin, function_name, make_zip({"app.py": LISTS_TASK}))
    code, _ = _error(
        lambda: client.put_function_code_signing_config(FunctionName=function_name, CodeSigningConfigArn=arn)
    )
    assert code == "AccessDeniedException"
