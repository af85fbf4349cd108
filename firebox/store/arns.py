"""Amazon Resource Names of the things Firebox keeps, in AWS's exact spelling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arns:
    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return base if qualifier is None else f"{base}:{qualifier}"

    def layer(self, name: str, version: int | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"
        return base if version is None else f"{base}:{version}"

    def log_group(self, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{name}:*"

    def code_signing_config(self, config_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:code-signing-config:{config_id}"

    def signing_profile(self, name: str, version: str | None = None) -> str:
        """An AWS Signer profile's ARN, or one of its versions' (Firebox's signing profiles take their shape)."""
        base = f"arn:aws:signer:{self.region}:{self.account_id}:/signing-profiles/{name}"
        return base if version is None else f"{base}/{version}"

    def signing_job(self, job_id: str) -> str:
        return f"arn:aws:signer:{self.region}:{self.account_id}:/signing-jobs/{job_id}"

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"
