#!/usr/bin/env python3
"""Signs one request with botocore's SigV4Auth, the signer boto3 uses, so the C++ signer can be
compared with it byte for byte.

stdin (JSON):  {"method", "url", "headers": [[name, value], ...], "body",
                "access_key", "secret_key", "token" (optional), "region", "service",
                "amz_date": "20150830T123600Z"}
stdout (JSON): {"headers": {name: value} of the signed request, "canonical_request",
                "string_to_sign"}
Exit status 3 when botocore is not installed.
"""
import datetime
import json
import sys

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    sys.stderr.write("botocore is not installed\n")
    sys.exit(3)


def pin_clock(amz_date):
    fixed = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    if hasattr(botocore.auth, "get_current_datetime"):  # botocore >= 1.31
        botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
    else:  # older botocore calls datetime.datetime.utcnow() directly
        class FixedDatetime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

        botocore.auth.datetime.datetime = FixedDatetime


def main():
    spec = json.load(sys.stdin)
    pin_clock(spec["amz_date"])
    request = AWSRequest(method=spec["method"], url=spec["url"],
                         data=spec.get("body", "").encode("utf-8"))
    for name, value in spec.get("headers", []):
        request.headers[name] = value
    credentials = Credentials(spec["access_key"], spec["secret_key"], spec.get("token"))
    signer = botocore.auth.SigV4Auth(credentials, spec["service"], spec["region"])
    signer.add_auth(request)
    # Recompute the intermediate steps as add_auth saw them, before it added Authorization.
    authorization = request.headers["Authorization"]
    del request.headers["Authorization"]
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    request.headers["Authorization"] = authorization
    json.dump({
        "headers": dict(request.headers.items()),
        "canonical_request": canonical,
        "string_to_sign": string_to_sign,
    }, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
