"""Makes LocalStack's Kinesis honour `Tags` on CreateStream, as AWS has done since 2022.

Why: kstream tags every resource it creates in the create call itself, so that an
interrupted deploy never leaves an untagged (hence unmanageable) resource. LocalStack
2026.3.0 has no `create_stream` of its own: its Kinesis provider raises
NotImplementedError for it, and the `HttpFallbackDispatcher` (`localstack/aws/forwarder.py`)
forwards the request to its engine, kinesis-mock (npm `kinesis-local`), whose
CreateStream does not know the `Tags` parameter and silently drops it.

How: a runtime hook (entry point `localstack.hooks.on_infra_start` in pyproject.toml)
gives `KinesisProvider` a `create_stream` before the Kinesis service is loaded (its
dispatch table binds the provider's methods when it is built). That method leaves a
CreateStream without tags to the stock fallback, untouched; with tags it forwards the
request to kinesis-mock the same way the fallback does, then applies the tags with
AddTagsToStream (kinesis-mock accepts it on a CREATING stream) and only then returns
the CreateStream response. Errors of CreateStream itself (ResourceInUseException, limits,
validation) reach the client exactly as before, and nothing gets tagged. If the tags are
rejected (say, an `aws:` key), the stream just created is deleted again and the tagging
error returned: as on AWS, a failed CreateStream leaves no stream behind (here one that
is `DELETING` for a moment, KINESIS_LATENCY, 500 ms by default).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from localstack.aws.api import CommonServiceException, RequestContext, ServiceResponse, handler
from localstack.aws.api.kinesis import CreateStreamInput
from localstack.aws.connect import connect_to
from localstack.aws.forwarder import get_request_forwarder_http
from localstack.runtime import hooks

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

    from localstack.services.kinesis.provider import KinesisProvider

LOG = logging.getLogger(__name__)

# How long a rollback waits for the stream to leave CREATING (kinesis-mock deletes only
# ACTIVE streams); KINESIS_LATENCY, 500 ms by default, is how long that takes.
ROLLBACK_WAIT_SECONDS = 10.0


# Must run before the Kinesis service is loaded: with EAGER_SERVICE_LOADING that is the
# on_infra_start hook `eager_load_services`, priority 0 (higher priorities run first).
@hooks.on_infra_start(priority=10)
def kstream_kinesis_create_stream_tags() -> None:
    from localstack.services.kinesis.provider import KinesisProvider

    if "create_stream" in vars(KinesisProvider):
        # A LocalStack that implements CreateStream itself; stay out of its way.
        LOG.warning("KinesisProvider has its own create_stream; not adding CreateStream Tags")
        return
    KinesisProvider.create_stream = create_stream  # type: ignore[method-assign]
    LOG.debug("Kinesis CreateStream now applies Tags before it returns (kstream)")


# The skeleton finds this through the `@handler` marker and then looks it up on the
# provider by its __name__, so the function must be called `create_stream`.
@handler("CreateStream", expand=False)
def create_stream(
    self: KinesisProvider, context: RequestContext, request: CreateStreamInput
) -> ServiceResponse | None:
    tags = request.get("Tags")
    if not tags:
        # Stock behaviour: the dispatcher forwards the request to kinesis-mock.
        raise NotImplementedError
    # What the fallback would have done: forward to kinesis-mock; raises its error as is.
    response = get_request_forwarder_http(self.get_forward_url)(context, request)
    stream_name = request["StreamName"]
    # LocalStack's internal client, as the provider itself uses: the call goes through
    # the gateway and the stock fallback to kinesis-mock's AddTagsToStream.
    kinesis = connect_to(aws_access_key_id=context.account_id, region_name=context.region).kinesis
    try:
        kinesis.add_tags_to_stream(StreamName=stream_name, Tags=tags)
    except Exception as error:
        _roll_back(kinesis, stream_name)
        if not isinstance(error, ClientError):
            raise
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        raise CommonServiceException(
            code=error.response["Error"]["Code"],
            message=error.response["Error"].get("Message", str(error)),
            status_code=status,
            sender_fault=status < 500,
        ) from None
    return response


def _roll_back(kinesis: KinesisClient, stream_name: str) -> None:
    """Deletes the stream whose tags were rejected, once it has left CREATING."""
    deadline = time.monotonic() + ROLLBACK_WAIT_SECONDS
    try:
        while (
            kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "CREATING"
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        kinesis.delete_stream(StreamName=stream_name, EnforceConsumerDeletion=True)
    except Exception:
        LOG.exception("could not delete stream %s after its tags were rejected", stream_name)
