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

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"
