from __future__ import annotations

from harness.scenario.registry import Field, ScenarioError, StepFailure, step


def _keys(value: list, where: str, name: str) -> None:
    if not all(isinstance(k, str) and k for k in value):
        raise ScenarioError(f"{where}: field '{name}': a list of object keys (strings)")


@step("expect_bucket", "The object store's side: a bucket's objects and its unfinished multipart uploads (what a "
                       "cancelled or failed upload must not leave).",
      fields=[Field("bucket", str, True, "the bucket"),
              Field("objects", list, False, "exactly these keys are in it, in any order", _keys),
              Field("present", list, False, "these keys are in it (others may be too)", _keys),
              Field("absent", list, False, "none of these keys is in it", _keys),
              Field("multipart_uploads", int, False, "this many multipart uploads are unfinished in it (0: every "
                                                     "one was completed or aborted)")],
      uses_store=True)
def expect_bucket(args, nc, ctx, where):
    s3 = ctx.ostore.store.s3
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args["bucket"]):
            keys += [o["Key"] for o in page.get("Contents", [])]
        uploads = s3.list_multipart_uploads(Bucket=args["bucket"]).get("Uploads", [])
    except Exception as exc:  # noqa: BLE001 - a bucket that is not there: one line
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise StepFailure(f"{where}: bucket {args['bucket']}: {code}") from None
    problems = []
    if "objects" in args and sorted(keys) != sorted(args["objects"]):
        problems.append(f"objects {sorted(keys)}, expected {sorted(args['objects'])}")
    problems += [f"{k}: missing" for k in args.get("present", []) if k not in keys]
    problems += [f"{k}: present" for k in args.get("absent", []) if k in keys]
    if "multipart_uploads" in args and len(uploads) != args["multipart_uploads"]:
        problems.append(f"{len(uploads)} unfinished multipart upload(s) "
                        f"({', '.join(u['Key'] for u in uploads) or 'none'}), expected {args['multipart_uploads']}")
    if problems:
        raise StepFailure(f"{where}: bucket {args['bucket']}: {problems[0]}", problems)
    return nc
