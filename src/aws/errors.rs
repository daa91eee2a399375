//! Named predicates over SDK errors, by error code or HTTP status: never by message text.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The codes services use for "no such resource".
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "NoSuchBucket",
    "NoSuchKey",
];

/// Whether the service answered with one of these error codes.
pub(crate) fn has_code(err: &impl ProvideErrorMetadata, codes: &[&str]) -> bool {
    err.code().is_some_and(|code| codes.contains(&code))
}

/// Whether the resource does not exist: a not-found error code, or a service error with
/// status 404 (HEAD requests have no body to carry a code).
pub(crate) fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    has_code(err, NOT_FOUND)
        || (err.as_service_error().is_some()
            && err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404))
}

/// Whether a create found the resource already there, or it is busy (Kinesis).
pub(crate) fn is_in_use(err: &impl ProvideErrorMetadata) -> bool {
    has_code(err, &["ResourceInUseException"])
}

/// Whether a create found the resource already there (Lambda).
pub(crate) fn is_conflict(err: &impl ProvideErrorMetadata) -> bool {
    has_code(err, &["ResourceConflictException"])
}

/// Whether the service refused the call for the caller's permissions.
pub(crate) fn is_denied(err: &impl ProvideErrorMetadata) -> bool {
    has_code(
        err,
        &[
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
        ],
    )
}

/// Whether a service error has HTTP status 403.
pub(crate) fn is_forbidden<E>(err: &SdkError<E, HttpResponse>) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 403)
}

/// Whether Lambda may be refusing a role, or the role's permissions, that IAM has not
/// propagated yet. Lambda reports that as `InvalidParameterValueException`, a code it also
/// uses for other invalid values: callers retry it only for a role created or changed in the
/// same run, and only within `Wait::IAM`.
pub(crate) fn iam_not_propagated(err: &impl ProvideErrorMetadata) -> bool {
    has_code(err, &["InvalidParameterValueException"])
}

/// Whether SQS says the queue does not exist (the JSON protocol's code, and the query
/// protocol's one that SQS still sends for compatibility).
pub(crate) fn is_queue_missing(err: &impl ProvideErrorMetadata) -> bool {
    has_code(
        err,
        &[
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
        ],
    )
}

/// Whether the call was refused for its rate (Kinesis per-shard limits, Lambda concurrency).
pub(crate) fn is_throttled(err: &impl ProvideErrorMetadata) -> bool {
    has_code(
        err,
        &[
            "ProvisionedThroughputExceededException",
            "LimitExceededException",
            "KMSThrottlingException",
            "TooManyRequestsException",
            "ThrottlingException",
        ],
    )
}

/// The code of a modelled error that means refused credentials or permissions (most services
/// send those unmodelled, as bare `ErrorMetadata`; these few model them as types).
pub(crate) fn modelled_code(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    fn code(e: &impl ProvideErrorMetadata) -> Option<String> {
        e.code().map(str::to_string)
    }
    None.or_else(|| {
        e.downcast_ref::<aws_sdk_kinesis::types::error::AccessDeniedException>()
            .and_then(code)
    })
    .or_else(|| {
        e.downcast_ref::<aws_sdk_cloudwatchlogs::types::error::AccessDeniedException>()
            .and_then(code)
    })
    .or_else(|| {
        e.downcast_ref::<aws_sdk_cloudwatchlogs::types::error::UnrecognizedClientException>()
            .and_then(code)
    })
    .or_else(|| {
        e.downcast_ref::<aws_sdk_sts::types::error::ExpiredTokenException>()
            .and_then(code)
    })
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    #[test]
    fn codes_decide() {
        let err = |code: &str| ErrorMetadata::builder().code(code).message("role").build();
        assert!(has_code(&err("NoSuchEntity"), NOT_FOUND));
        assert!(!has_code(&err("AccessDenied"), NOT_FOUND));
        assert!(is_in_use(&err("ResourceInUseException")));
        assert!(is_conflict(&err("ResourceConflictException")));
        assert!(iam_not_propagated(&err("InvalidParameterValueException")));
        assert!(is_queue_missing(&err(
            "AWS.SimpleQueueService.NonExistentQueue"
        )));
        assert!(is_throttled(&err("ProvisionedThroughputExceededException")));
        assert!(!is_throttled(&err("ResourceNotFoundException")));
        assert!(is_denied(&err("AccessDenied")) && is_denied(&err("AccessDeniedException")));
        assert!(!is_denied(&err("ExpiredToken")));
        // The message never decides.
        assert!(!iam_not_propagated(&err("ValidationException")));
    }
}
